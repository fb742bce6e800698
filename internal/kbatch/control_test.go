package kbatch

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestControlBatchIsKafkas checks the marker against kmsg's decoding:
// attributes, producer fields, ControlRecordType key and marker value,
// CRC, and that ControlType reads its type back.
func TestControlBatchIsKafkas(t *testing.T) {
	for _, commit := range []bool{false, true} {
		b := AppendControlBatch([]byte("x"), 42, 7, commit, 1_700_000_000_000, 3)[1:]
		if err := CheckCRC(b); err != nil {
			t.Fatal(err)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		if rb.Attributes&0x30 != 0x30 || rb.ProducerID != 42 || rb.ProducerEpoch != 7 || rb.FirstSequence != -1 || rb.NumRecords != 1 || rb.LastOffsetDelta != 0 {
			t.Fatalf("header %+v", rb)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(rb.Records); err != nil {
			t.Fatal(err)
		}
		recs := []kmsg.Record{rec}
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(recs[0].Key); err != nil {
			t.Fatal(err)
		}
		want := kmsg.ControlRecordKeyTypeAbort
		if commit {
			want = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Version != 0 || key.Type != want {
			t.Fatalf("key %+v, want type %v", key, want)
		}
		var val kmsg.EndTxnMarker
		if err := val.ReadFrom(recs[0].Value); err != nil || val.CoordinatorEpoch != 3 {
			t.Fatalf("marker %+v %v", val, err)
		}
		typ, err := ControlType(b)
		if err != nil || (typ == ControlCommit) != commit {
			t.Fatalf("ControlType = %d, %v", typ, err)
		}
		h, _ := ParseHeader(b)
		if !h.Control() || !h.Transactional() {
			t.Fatal("header bits")
		}
	}
}

func TestControlTypeRefusesDataBatches(t *testing.T) {
	var b Builder
	b.Reset(CodecNone)
	if err := b.Add(1, []byte("k"), []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	batch, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ControlType(batch); !errors.Is(err, ErrControlBatch) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ControlType(batch[:10]); err == nil {
		t.Fatal("truncated input accepted")
	}
}
