package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// kgoModule is the franz-go module whose integration tests run against the
// broker, built from the module cache (no network).
const kgoModule = "github.com/twmb/franz-go"

// kgoTxnTests are the transaction integration tests (TestTxnEtl and its
// six consumer variants); they run with the rest.
const kgoTxnTests = "TestTxnEtl"

// kgoGroupTest matches the tests that need the classic group coordinator.
var kgoGroupTest = regexp.MustCompile(`Group|Issue523|ConsumeRegex|ETL|Etl`)

// TestKgoIntegrationSuite runs franz-go's own kgo integration tests,
// black box, against a broker in a child process (KGO_SEEDS, KGO_TEST_RF=1,
// KGO_TEST_RECORDS=2000) and reports passed/failed/skipped per test. Every
// test must pass, the transaction tests too (while no group coordinator
// is built in, the group tests may fail). ONEXBUS_KGO_RUN narrows the run
// to the tests it matches (a -test.run pattern, e.g. '^TestTxnEtl$');
// ONEXBUS_KGO_RECORDS replaces the record count.
// Slow: skipped with -short.
func TestKgoIntegrationSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kgo test binary; skipped with -short")
	}
	bin := buildKgoTests(t)
	child := startChild(t, t.TempDir())
	srcDir := kgoSourceDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"-test.v", "-test.timeout", "9m", "-test.parallel", "4", "-test.skip", "^Benchmark|^Fuzz"}
	if run := os.Getenv("ONEXBUS_KGO_RUN"); run != "" {
		args = append(args, "-test.run", run)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = srcDir // some tests read their own sources
	records := "2000"
	if n := os.Getenv("ONEXBUS_KGO_RECORDS"); n != "" {
		records = n
	}
	cmd.Env = append(os.Environ(), "KGO_SEEDS="+child.addr, "KGO_TEST_RF=1", "KGO_TEST_RECORDS="+records, "KGO_LOG_LEVEL=none")
	out, _ := cmd.CombinedOutput()
	if err := os.WriteFile(filepath.Join(t.TempDir(), "kgo.out"), out, 0o644); err != nil {
		t.Log(err)
	}
	res := parseGoTestV(out)
	if len(res) == 0 {
		t.Fatalf("no test results from the kgo binary:\n%s", tail(out, 4000))
	}
	groupsServed := newGroupService != nil
	var passed, failed, skipped, expectedFail int
	var names []string
	for n := range res {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := res[name]
		if strings.Contains(name, "/") {
			continue // counted with their parent
		}
		switch r {
		case "PASS":
			passed++
		case "SKIP":
			skipped++
		case "FAIL":
			failed++
			switch {
			case !groupsServed && kgoGroupTest.MatchString(name):
				expectedFail++
				t.Logf("kgo %s: FAIL (no group coordinator in this build)", name)
				continue
			}
			t.Errorf("kgo %s: FAIL\n%s", name, testOutput(out, name))
			continue
		}
		t.Logf("kgo %s: %s", name, r)
	}
	if bytes.Contains(out, []byte("panic: test timed out")) {
		t.Errorf("the kgo binary timed out:\n%s", tail(out, 4000))
	}
	if os.Getenv("ONEXBUS_KGO_RUN") == "" && res[kgoTxnTests] != "PASS" {
		t.Errorf("kgo %s did not pass: %q", kgoTxnTests, res[kgoTxnTests])
	}
	t.Logf("kgo suite: %d passed, %d failed (%d expected without a group coordinator), %d skipped",
		passed, failed, expectedFail, skipped)
}

// buildKgoTests compiles kgo's tests once per kgo version into the user
// cache directory.
func buildKgoTests(t *testing.T) string {
	t.Helper()
	v, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", kgoModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", kgoModule, err)
	}
	version := strings.TrimSpace(string(v))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "onexbus", "kgo-"+version+".test")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := bin + fmt.Sprintf(".%d.tmp", os.Getpid())
	cmd := exec.Command("go", "test", "-c", "-o", tmp, kgoModule+"/pkg/kgo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build kgo tests: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func kgoSourceDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", kgoModule+"/pkg/kgo").Output()
	if err != nil {
		t.Fatalf("go list kgo: %v", err)
	}
	return strings.TrimSpace(string(out))
}

var goTestResult = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// parseGoTestV returns each test's result from go test -v output.
func parseGoTestV(out []byte) map[string]string {
	res := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := goTestResult.FindStringSubmatch(sc.Text()); m != nil {
			res[m[2]] = m[1]
		}
	}
	return res
}

// testOutput returns the lines go test -v printed under name.
func testOutput(out []byte, name string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--- ") {
			f := strings.Fields(line)
			in = len(f) >= 3 && strings.HasPrefix(f[2], name)
		}
		if in && b.Len() < 4000 {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
