package message_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/internal/testutil/codecv1"
	"github.com/onexbus/onexbus/message"
)

// TestCodecV1HelperIsVersion1: the encoder kept in codecv1 writes, byte
// for byte, what the version 1 encoder wrote into testdata/codec-v1.hex,
// so the logs tests build with it are version 1 logs.
func TestCodecV1HelperIsVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/codec-v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, _ := strings.Cut(line, "\t")
		want, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatal(name, err)
		}
		var m message.Message
		if err := message.DecodeMessage(want, &m); err != nil {
			t.Fatal(name, err)
		}
		if got := codecv1.AppendMessage(nil, &m); !bytes.Equal(got, want) {
			t.Errorf("%s: codecv1 writes\n% x\nthe version 1 encoder wrote\n% x", name, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("empty fixture")
	}
}
