package checker_test

import (
	"errors"
	"testing"

	"github.com/onexbus/onexbus/internal/checker"
)

// good builds a clean history: p1 publishes a1, a2 under key a and b1
// under b to t/0 at offsets 0..2, group g receives all three and commits
// 3, and the final read holds them.
func good() *checker.History {
	h := &checker.History{}
	for i, v := range []struct{ key, value string }{{"a", "a1"}, {"b", "b1"}, {"a", "a2"}} {
		h.Invoke("p1", "t", v.key, v.value)
		h.Ack("p1", "t", 0, int64(i), v.key, v.value)
	}
	h.Deliver("s1", "g", "t", 0, 0, "a", "a1")
	h.Deliver("s1", "g", "t", 0, 1, "b", "b1")
	h.Deliver("s1", "g", "t", 0, 2, "a", "a2")
	h.Commit("g", "t", 0, 3)
	return h
}

var goodFinal = []checker.Record{{Offset: 0, Key: "a", Value: "a1"}, {Offset: 1, Key: "b", Value: "b1"}, {Offset: 2, Key: "a", Value: "a2"}}

// TestCheckerFindsEachAnomaly feeds one broken history per anomaly class
// and expects exactly that class to be counted.
func TestCheckerFindsEachAnomaly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func() *checker.History
		want  string
		also  string // a class the same damage also shows as
	}{
		{"clean", func() *checker.History {
			h := good()
			h.Final("t", 0, goodFinal)
			h.Drained("g")
			return h
		}, "", ""},
		{"lost from the log", func() *checker.History {
			h := good()
			h.Final("t", 0, goodFinal[:2])
			return h
		}, "lost", "cursor-ahead"},
		{"never delivered to a drained group", func() *checker.History {
			h := &checker.History{}
			h.Invoke("p1", "t", "a", "a1")
			h.Ack("p1", "t", 0, 0, "a", "a1")
			h.Final("t", 0, goodFinal[:1])
			h.Drained("g")
			return h
		}, "lost", ""},
		{"ack contradicted", func() *checker.History {
			h := good()
			h.Final("t", 0, []checker.Record{goodFinal[0], {Offset: 1, Key: "a", Value: "a2"}, {Offset: 2, Key: "b", Value: "b1"}})
			return h
		}, "bad-ack", ""},
		{"never published", func() *checker.History {
			h := good()
			h.Final("t", 0, append(append([]checker.Record(nil), goodFinal...), checker.Record{Offset: 3, Value: "ghost"}))
			return h
		}, "unexpected", ""},
		{"stored twice", func() *checker.History {
			h := &checker.History{}
			h.Invoke("p1", "t", "a", "a1")
			h.Fail("p1", "t", "a", "a1", errors.New("timeout"))
			h.Final("t", 0, []checker.Record{{Offset: 0, Key: "a", Value: "a1"}, {Offset: 1, Key: "a", Value: "a1"}})
			return h
		}, "duplicate", ""},
		{"redelivered below the committed cursor", func() *checker.History {
			h := good()
			h.Deliver("s2", "g", "t", 0, 1, "b", "b1")
			return h
		}, "duplicate", ""},
		{"key stored out of publish order", func() *checker.History {
			h := &checker.History{}
			h.Invoke("p1", "t", "a", "a1")
			h.Invoke("p1", "t", "a", "a2")
			h.Ack("p1", "t", 0, 1, "a", "a1")
			h.Ack("p1", "t", 0, 0, "a", "a2")
			h.Final("t", 0, []checker.Record{{Offset: 0, Key: "a", Value: "a2"}, {Offset: 1, Key: "a", Value: "a1"}})
			return h
		}, "reordered", ""},
		{"offset repeats in a session", func() *checker.History {
			h := good()
			h.Final("t", 0, goodFinal)
			h.Deliver("s1", "g2", "t", 0, 1, "b", "b1")
			h.Deliver("s1", "g2", "t", 0, 1, "b", "b1")
			return h
		}, "offset-back", ""},
		{"hole in the log", func() *checker.History {
			h := good()
			h.Final("t", 0, []checker.Record{goodFinal[0], goodFinal[2]})
			return h
		}, "offset-back", "lost"},
		{"cursor past the end", func() *checker.History {
			h := good()
			h.Commit("g", "t", 0, 7)
			h.Final("t", 0, goodFinal)
			return h
		}, "cursor-ahead", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.build().Check(checker.Options{})
			for name, n := range r.Counts {
				if name == tc.want && n == 0 {
					t.Errorf("%s not found:\n%s", name, r)
				}
				if name != tc.want && name != tc.also && n != 0 {
					t.Errorf("%s found %d times, want only %q:\n%s", name, n, tc.want, r)
				}
			}
			if r.OK() != (tc.want == "") {
				t.Errorf("OK()=%v for want %q", r.OK(), tc.want)
			}
		})
	}
}
