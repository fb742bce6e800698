// kafkajs 2.2.4 against the onexbus broker: admin, idempotent produce with
// headers, a group consumer (read_committed, kafkajs's default), committed
// offsets. Prints one JSON line with what it saw; exits non-zero on error.
// Usage: node kafkajs_smoke.js <broker host:port> <node_modules dir>
const path = require('path');
const { Kafka, logLevel } = require(path.join(process.argv[3], 'kafkajs'));

const broker = process.argv[2];
const topic = 'kafkajs-smoke';
const group = 'kafkajs-group';
const kafka = new Kafka({ clientId: 'kafkajs-smoke', brokers: [broker], logLevel: logLevel.ERROR });

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sent = [];
  for (let i = 0; i < 10; i++) {
    const res = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: `k${i % 3}`, value: `v${i}`, headers: { correlation_id: `c${i}`, 'x-n': String(i) } }],
    });
    sent.push(res[0]);
  }
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: saw ${seen.length}`)), 30000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ partition, offset: message.offset, key: message.key.toString(), value: message.value.toString(),
          headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.toString()])) });
        if (seen.length === 10) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.commitOffsets([]); // autocommit already ran; flush it
  await consumer.disconnect();
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const groups = await admin.listGroups();
  await admin.disconnect();
  console.log(JSON.stringify({ created, partitions: meta.topics[0].partitions.length, sent, seen, offsets, groups: groups.groups }));
}

main().catch((e) => { console.error(e); process.exit(1); });
