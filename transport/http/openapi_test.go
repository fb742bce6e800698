package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"
)

// The committed openapi.json is the document the code generates and the
// one /openapi.json serves; a change to the API without regenerating it
// fails here. Regenerate with
//
//	ONEXBUS_UPDATE_OPENAPI=1 go test -run TestOpenAPIDocumentIsCommitted ./transport/http/
func TestOpenAPIDocumentIsCommitted(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := e.srv.Client().Get(e.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d, %v", resp.StatusCode, err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, served, "", "  "); err != nil {
		t.Fatal(err)
	}
	want.WriteByte('\n')
	if os.Getenv("ONEXBUS_UPDATE_OPENAPI") == "1" {
		if err := os.WriteFile("openapi.json", want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatalf("read the committed document: %v", err)
	}
	if !bytes.Equal(committed, want.Bytes()) {
		t.Fatal("transport/http/openapi.json is stale: regenerate it with ONEXBUS_UPDATE_OPENAPI=1 go test -run TestOpenAPIDocumentIsCommitted ./transport/http/")
	}
}
