package broker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// valuesBatch builds one uncompressed batch of n records whose values
// name tag and the record's index, so that a batch of another request is
// told apart by its bytes.
func valuesBatch(t testing.TB, tag string, n int) []byte {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	for i := range n {
		v := fmt.Sprintf("%s/%d/%s", tag, i, strings.Repeat("v", i*7))
		if err := b.Add(int64(1_700_000_000_000+i), []byte(tag), []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// batchValues returns the record values of every batch in b.
func batchValues(t testing.TB, b []byte) []string {
	t.Helper()
	var vals []string
	for len(b) > 0 {
		h, err := kbatch.ParseHeader(b)
		if err != nil || h.Len() > len(b) {
			t.Fatalf("stored batch of %d bytes: header %+v: %v", len(b), h, err)
		}
		err = kbatch.ForEachRecord(h, b[kbatch.HeaderSize:h.Len()], func(r *kbatch.Record) error {
			vals = append(vals, string(r.Value))
			return nil
		})
		if err != nil {
			t.Fatalf("stored records: %v", err)
		}
		b = b[h.Len():]
	}
	return vals
}

// TestProducePipelinedFramesKeepTheirBytes: produce requests sent back to
// back on one connection, each to its own topic with its own records, are
// answered after their group commit's fsync (a durable bus) while the
// reader has already read the frames after them (their buffers are
// reused): every response, in request order, names its own topic with
// offset 0 and no error, and each topic stores exactly the records sent
// to it.
func TestProducePipelinedFramesKeepTheirBytes(t *testing.T) {
	tb := startBroker(t)
	setup := dialRaw(t, tb.addr)
	const n = 40
	topics, batches := make([]string, n), make([][]byte, n)
	for i := range n {
		topics[i] = fmt.Sprintf("pipe-%d-%s", i, strings.Repeat("t", i))
		if c := setup.do(createTopicsReq(topics[i], 1, 1)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
			t.Fatalf("create %s: %v", topics[i], kerr.ErrorForCode(c))
		}
		batches[i] = valuesBatch(t, topics[i], 1+i%9)
	}
	rc := dialRaw(t, tb.addr)
	reqs, corrs := make([]*kmsg.ProduceRequest, n), make([]int32, n)
	for i := range n {
		reqs[i] = produceReq(topics[i], batches[i])
		reqs[i].SetVersion(9)
		corrs[i] = rc.send(reqs[i])
	}
	for i := range n {
		resp := rc.recv(reqs[i], corrs[i]).(*kmsg.ProduceResponse)
		rt := resp.Topics[0]
		if rt.Topic != topics[i] || rt.Partitions[0].ErrorCode != 0 || rt.Partitions[0].BaseOffset != 0 {
			t.Fatalf("response %d: topic %q error %d offset %d, want %q, 0, 0",
				i, rt.Topic, rt.Partitions[0].ErrorCode, rt.Partitions[0].BaseOffset, topics[i])
		}
	}
	for i := range n {
		p := fetchPart(t, setup, fetchRequest(topics[i], 0, 0, 0, 1<<20, 1<<20))
		got, want := batchValues(t, p.RecordBatches), batchValues(t, batches[i])
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s stores %q, want %q", topics[i], got, want)
		}
	}
}

// TestFetchPipelinedResponsesKeepTheirBytes: fetches sent back to back on
// one connection, each at the start of another stored batch with a
// one-byte partition budget (exactly one batch, KIP-74), are answered in
// request order each with exactly its batch, byte for byte as stored,
// while the buffers of the responses before it are reused.
func TestFetchPipelinedResponsesKeepTheirBytes(t *testing.T) {
	tb := startBroker(t)
	producer := dialRaw(t, tb.addr)
	producer.do(createTopicsReq("fp", 1, 1))
	const n = 30
	bases, vals := make([]int64, n), make([][]string, n)
	for i := range n {
		b := valuesBatch(t, fmt.Sprintf("b%d", i), 1+i%7)
		p := produceCode(t, producer, produceReq("fp", b))
		if p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
		bases[i], vals[i] = p.BaseOffset, batchValues(t, b)
	}
	// The stored batches, one fetch each, one at a time.
	stored := make([][]byte, n)
	for i := range n {
		stored[i] = bytes.Clone(fetchPart(t, producer, fetchRequest("fp", bases[i], 0, 0, 1<<20, 1)).RecordBatches)
	}
	consumer := dialRaw(t, tb.addr)
	for round := range 3 {
		reqs, corrs := make([]*kmsg.FetchRequest, n), make([]int32, n)
		for i := range n {
			reqs[i] = fetchRequest("fp", bases[i], 0, 0, 1<<20, 1)
			corrs[i] = consumer.send(reqs[i])
		}
		for i := range n {
			p := consumer.recv(reqs[i], corrs[i]).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if p.ErrorCode != 0 {
				t.Fatalf("round %d fetch %d: %v", round, i, kerr.ErrorForCode(p.ErrorCode))
			}
			if !bytes.Equal(p.RecordBatches, stored[i]) {
				t.Fatalf("round %d fetch %d at %d: %d bytes %q, want %d bytes %q", round, i, bases[i],
					len(p.RecordBatches), batchValues(t, p.RecordBatches), len(stored[i]), vals[i])
			}
		}
	}
}
