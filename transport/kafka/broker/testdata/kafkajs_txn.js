// kafkajs 2.2.4 transactions against the onexbus broker: an aborted
// transaction of two records, a committed one of one record, a committed
// consume-process-produce one with sendOffsets; then a read_committed
// group consumer (kafkajs's default) and a read_uncommitted one read the
// topic from the beginning. Prints one JSON line; exits non-zero on error.
// Usage: node kafkajs_txn.js <broker host:port> <node_modules dir>
const path = require('path');
const { Kafka, logLevel } = require(path.join(process.argv[3], 'kafkajs'));

const broker = process.argv[2];
const topic = 'kafkajs-txn';
const kafka = new Kafka({ clientId: 'kafkajs-txn', brokers: [broker], logLevel: logLevel.ERROR });

async function consume(groupId, readUncommitted, want) {
  const consumer = kafka.consumer({ groupId, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${groupId}: timeout, saw ${JSON.stringify(seen)}`)), 30000);
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({ offset: message.offset, value: message.value.toString() });
        // Delivery is in offset order: once the last value is here,
        // everything before it has been delivered or skipped.
        if (message.value.toString() === want) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return seen;
}

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });

  const producer = kafka.producer({ transactionalId: 'kafkajs-txn-producer', maxInFlightRequests: 1, idempotent: true });
  await producer.connect();
  const aborted = await producer.transaction();
  await aborted.send({ topic, acks: -1, messages: [{ value: 'aborted-0' }, { value: 'aborted-1' }] });
  await aborted.abort();
  const committed = await producer.transaction();
  await committed.send({ topic, acks: -1, messages: [{ value: 'committed-0' }] });
  await committed.commit();
  const eos = await producer.transaction();
  await eos.send({ topic, acks: -1, messages: [{ value: 'committed-1' }] });
  await eos.sendOffsets({ consumerGroupId: 'kafkajs-eos', topics: [{ topic, partitions: [{ partition: 0, offset: '3' }] }] });
  await eos.commit();
  await producer.disconnect();

  const readCommitted = await consume('kafkajs-read-committed', false, 'committed-1');
  const readUncommitted = await consume('kafkajs-read-uncommitted', true, 'committed-1');
  const eosOffsets = await admin.fetchOffsets({ groupId: 'kafkajs-eos', topics: [topic] });
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  console.log(JSON.stringify({ readCommitted, readUncommitted, eosOffsets, ends }));
}

main().catch((e) => { console.error(e); process.exit(1); });
