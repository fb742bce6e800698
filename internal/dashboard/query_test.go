package dashboard

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// TestParseQueryRefusesBadInput: every bad parameter is an error wrapping
// ErrBadRequest that names it, never a panic.
func TestParseQueryRefusesBadInput(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"from=sideways", "from"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=x", "limit"},
		{"partition=-1", "partition"},
		{"from=offset&offset=abc", "offset"},
		{"from=time", "needs at"},
		{"since=yesterday", "since"},
		{"header=novalue", "header"},
		{"cid=not-a-uuid", "correlation id"},
		{"expr=" + url.QueryEscape("json.amount >"), "expression"},
		{"expr=" + url.QueryEscape("1 + 1"), "expression"}, // not a bool
		{"expr=" + strings.Repeat("a", maxExprLen+1), "longer"},
	} {
		v, _ := url.ParseQuery(tc.q)
		_, err := parseQuery(v)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadRequest naming %q", tc.q, err, tc.want)
		}
	}
	v, _ := url.ParseQuery("from=offset&offset=5&partition=0&limit=10&key=k&header=a%3Db&expr=" + url.QueryEscape(`json.x == 1`))
	if q, err := parseQuery(v); err != nil || q.offset != 5 || !q.onePart || q.Limit != 10 || q.hdrName != "a" || q.prog == nil {
		t.Errorf("good query: %+v %v", q, err)
	}
}

// TestHistogramQuantile interpolates within buckets as PromQL does.
func TestHistogramQuantile(t *testing.T) {
	b := func(le float64, n uint64) *dto.Bucket {
		return &dto.Bucket{UpperBound: proto.Float64(le), CumulativeCount: proto.Uint64(n)}
	}
	mf := &dto.MetricFamily{Metric: []*dto.Metric{{Histogram: &dto.Histogram{SampleCount: proto.Uint64(100),
		Bucket: []*dto.Bucket{b(0.001, 50), b(0.01, 90), b(0.1, 100)}}}}}
	got, ok := histogramQuantile(mf, 0.99)
	if !ok || got < 0.0909 || got > 0.0911 { // 0.01 + 0.09 * 9/10
		t.Errorf("p99 = %v %v, want 0.091", got, ok)
	}
	if _, ok := histogramQuantile(&dto.MetricFamily{}, 0.99); ok {
		t.Error("an empty histogram has a p99")
	}
}
