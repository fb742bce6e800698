package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	bbolt "go.etcd.io/bbolt"

	"github.com/onexbus/onexbus/store/bolt"
)

// Status is a check's outcome, with Nagios's exit codes.
type Status int

// Statuses, in increasing severity; a report's status is its worst check's.
const (
	StatusOK       Status = 0
	StatusWarning  Status = 1
	StatusCritical Status = 2
	StatusUnknown  Status = 3
)

// String is OK, WARNING, CRITICAL or UNKNOWN.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusWarning:
		return "WARNING"
	case StatusCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// MarshalText writes the name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// CheckResult is one check of the doctor.
type CheckResult struct {
	// Name is the check (data_dir, free_space, fsync, integrity, ports,
	// tls, upstream).
	Name string `json:"name"`
	// Status is its outcome.
	Status Status `json:"status"`
	// Message says what was found and, when not OK, what to do.
	Message string `json:"message"`
}

// Report is the doctor's result.
type Report struct {
	// Status is the worst check's status: the process's exit code.
	Status Status `json:"status"`
	// Checks in the order run.
	Checks []CheckResult `json:"checks"`
}

// Thresholds of the doctor.
const (
	freeWarnBytes = 1 << 30
	freeCritBytes = 100 << 20
	fsyncSamples  = 32
	// DefaultFsyncWarn and DefaultFsyncCrit are the p99 fsync latencies
	// above which the doctor warns and fails.
	DefaultFsyncWarn = 20 * time.Millisecond
	DefaultFsyncCrit = 500 * time.Millisecond
	certWarnBefore   = 14 * 24 * time.Hour
	upstreamTimeout  = 5 * time.Second
)

// DoctorOptions say what the doctor checks besides the configuration.
type DoctorOptions struct {
	// Kafka and HTTP say whether this binary opens those listeners.
	Kafka, HTTP bool
	// Now is the clock for certificate expiry; nil means time.Now.
	Now func() time.Time
	// FsyncWarn and FsyncCrit are the p99 thresholds of the fsync check
	// (zero: DefaultFsyncWarn, DefaultFsyncCrit).
	FsyncWarn, FsyncCrit time.Duration
}

// Doctor checks that cfg can run here: the data directory is writable
// with free space, fsync is fast enough (measured), the bbolt file is
// intact, the listeners' ports are free, TLS files are readable and not
// expired, and the upstream Kafka answers when fronting. It never
// changes the data file.
func Doctor(ctx context.Context, cfg Config, o DoctorOptions) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FsyncWarn <= 0 {
		o.FsyncWarn = DefaultFsyncWarn
	}
	if o.FsyncCrit <= 0 {
		o.FsyncCrit = DefaultFsyncCrit
	}
	var r Report
	add := func(name string, st Status, format string, args ...any) {
		r.Checks = append(r.Checks, CheckResult{Name: name, Status: st, Message: fmt.Sprintf(format, args...)})
		r.Status = max(r.Status, st)
	}
	dirOK := checkDataDir(cfg.DataDir, add)
	holder := 0
	if dirOK {
		var err error
		if holder, err = lockHolder(cfg.DataDir); err != nil {
			add("lock", StatusUnknown, "cannot read the data dir lock: %v", err)
		}
		checkFreeSpace(cfg.DataDir, add)
		checkFsync(cfg.DataDir, o.FsyncWarn, o.FsyncCrit, add)
		checkIntegrity(cfg.DataDir, holder, add)
	}
	checkPorts(cfg, o, holder, add)
	checkTLS(cfg, o.Now(), add)
	checkUpstream(ctx, cfg, add)
	return r
}

type addFunc func(name string, st Status, format string, args ...any)

func checkDataDir(dir string, add addFunc) bool {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(filepath.Clean(dir))
		if err := writable(parent); err != nil {
			add("data_dir", StatusCritical, "%s does not exist and cannot be created in %s: %v", dir, parent, err)
			return false
		}
		add("data_dir", StatusOK, "%s does not exist yet; serve creates it (its parent is writable)", dir)
		return false
	case err != nil:
		add("data_dir", StatusCritical, "%s: %v", dir, err)
		return false
	case !st.IsDir():
		add("data_dir", StatusCritical, "%s is not a directory", dir)
		return false
	}
	if err := writable(dir); err != nil {
		add("data_dir", StatusCritical, "%s is not writable: %v; fix its permissions or choose another data_dir", dir, err)
		return false
	}
	add("data_dir", StatusOK, "%s is writable", dir)
	return true
}

// writable creates, writes and removes a file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".onexbusd-check-*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("onexbusd check\n"))
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, cerr, rerr)
}

func checkFreeSpace(dir string, add addFunc) {
	free, total, err := diskSpace(dir)
	switch {
	case err != nil:
		add("free_space", StatusUnknown, "cannot measure free space in %s: %v", dir, err)
	case free < freeCritBytes:
		add("free_space", StatusCritical, "%s free of %s in %s: publishes will fail soon; free space or set retention", mib(free), mib(total), dir)
	case free < freeWarnBytes:
		add("free_space", StatusWarning, "%s free of %s in %s", mib(free), mib(total), dir)
	default:
		add("free_space", StatusOK, "%s free of %s", mib(free), mib(total))
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// checkFsync measures fsyncSamples fsyncs of a 4 KiB write in dir: the
// cost every acknowledged publish pays under durability=sync.
func checkFsync(dir string, warn, crit time.Duration, add addFunc) {
	f, err := os.CreateTemp(dir, ".onexbusd-fsync-*")
	if err != nil {
		add("fsync", StatusUnknown, "cannot create a file in %s: %v", dir, err)
		return
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }() // scratch file; the measurement is the result
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, fsyncSamples)
	for i := range fsyncSamples {
		buf[0] = byte(i)
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			add("fsync", StatusCritical, "write in %s failed: %v", dir, err)
			return
		}
		if err := f.Sync(); err != nil {
			add("fsync", StatusCritical, "fsync in %s failed: %v; acknowledged publishes would not be durable", dir, err)
			return
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	msg := fmt.Sprintf("write+fsync of 4 KiB, %d samples: p50 %v, p99 %v, max %v", len(lat), p50.Round(time.Microsecond), p99.Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	switch {
	case p99 > crit:
		add("fsync", StatusCritical, "%s: too slow for durability=sync (p99 over %v)", msg, crit)
	case p99 > warn:
		add("fsync", StatusWarning, "%s: slow disk, publishes wait this long (p99 over %v)", msg, warn)
	default:
		add("fsync", StatusOK, "%s", msg)
	}
}

// checkIntegrity verifies the bbolt file's structure (store/bolt's
// check at open, which names the damaged page) and bbolt's own
// consistency check, read-only; a file held by a running daemon was
// checked when that daemon opened it.
func checkIntegrity(dir string, holder int, add addFunc) {
	path := filepath.Join(dir, DataFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		add("integrity", StatusOK, "no data file yet (%s)", path)
		return
	}
	if holder != 0 {
		add("integrity", StatusOK, "%s is in use by a running onexbusd%s; it was verified when that process opened it", path, pidText(holder))
		return
	}
	st, err := bolt.Open(path)
	if err != nil {
		add("integrity", StatusCritical, "%v; move the file aside and restore a backup", err)
		return
	}
	if err := st.Close(); err != nil {
		add("integrity", StatusCritical, "%s: close after verify: %v", path, err)
		return
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		add("integrity", StatusCritical, "%s: %v", path, err)
		return
	}
	var problems []string
	verr := db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			problems = append(problems, err.Error())
			if len(problems) == 10 {
				break
			}
		}
		return nil
	})
	cerr := db.Close()
	switch {
	case verr != nil || cerr != nil:
		add("integrity", StatusCritical, "%s: %v", path, errors.Join(verr, cerr))
	case len(problems) > 0:
		add("integrity", StatusCritical, "%s: bbolt consistency check failed: %s; move the file aside and restore a backup", path, strings.Join(problems, "; "))
	default:
		fi, _ := os.Stat(path)
		add("integrity", StatusOK, "%s (%s) verified", path, mib(uint64(fi.Size())))
	}
}

func pidText(pid int) string {
	if pid > 0 {
		return fmt.Sprintf(" (pid %d)", pid)
	}
	return ""
}

// checkPorts tries to bind each listener's address.
func checkPorts(cfg Config, o DoctorOptions, holder int, add addFunc) {
	var msgs []string
	worst := StatusOK
	for _, l := range cfg.listeners() {
		switch {
		case l.name == "kafka.addr" && !o.Kafka, l.name == "http.addr" && !o.HTTP:
			continue
		}
		_, port, _ := net.SplitHostPort(l.addr)
		if port == "0" {
			msgs = append(msgs, l.name+" "+l.addr+" picks a free port")
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err == nil {
			_ = ln.Close() // a probe
			msgs = append(msgs, l.name+" "+l.addr+" free")
			continue
		}
		if holder != 0 {
			// Expected while the daemon of this data dir runs: a check of a
			// live server should not warn about its own listeners.
			msgs = append(msgs, fmt.Sprintf("%s %s in use, by the onexbusd running on this data dir%s", l.name, l.addr, pidText(holder)))
			continue
		}
		worst = StatusCritical
		msgs = append(msgs, fmt.Sprintf("%s %s cannot be bound: %v; stop what holds it or set %s", l.name, l.addr, err, l.env))
	}
	add("ports", worst, "%s", strings.Join(msgs, "; "))
}

// checkTLS reads the upstream TLS files: readable, PEM, certificates not
// expired (warning within 14 days), key matching the certificate.
func checkTLS(cfg Config, now time.Time, add addFunc) {
	uv := func(name string) string { v, _ := cfg.Upstream.Value(name); return v }
	caPath, certPath, keyPath := uv("KAFKA_SSL_CAFILE"), uv("KAFKA_SSL_CERTFILE"), uv("KAFKA_SSL_KEYFILE")
	files := []struct{ name, path string }{
		{"upstream.ssl_cafile (KAFKA_SSL_CAFILE)", caPath},
		{"upstream.ssl_certfile (KAFKA_SSL_CERTFILE)", certPath},
	}
	var msgs []string
	worst := StatusOK
	seen := false
	for _, f := range files {
		if f.path == "" {
			continue
		}
		seen = true
		st, msg := certFile(f.path, now)
		worst = max(worst, st)
		msgs = append(msgs, f.name+": "+msg)
	}
	if certPath != "" && keyPath != "" {
		if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
			worst = StatusCritical
			msgs = append(msgs, fmt.Sprintf("upstream.ssl_keyfile (KAFKA_SSL_KEYFILE) %s: %v", keyPath, err))
		}
	}
	if !seen {
		add("tls", StatusOK, "no TLS files configured")
		return
	}
	add("tls", worst, "%s", strings.Join(msgs, "; "))
}

// certFile checks every certificate of a PEM file.
func certFile(path string, now time.Time) (Status, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return StatusCritical, fmt.Sprintf("%s unreadable: %v", path, err)
	}
	worst, n := StatusOK, 0
	var msgs []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return StatusCritical, fmt.Sprintf("%s: certificate %d does not parse: %v", path, n, err)
		}
		switch left := c.NotAfter.Sub(now); {
		case left <= 0:
			worst = StatusCritical
			msgs = append(msgs, fmt.Sprintf("%q expired on %s", c.Subject.CommonName, c.NotAfter.Format(time.DateOnly)))
		case c.NotBefore.After(now):
			worst = StatusCritical
			msgs = append(msgs, fmt.Sprintf("%q is not valid before %s", c.Subject.CommonName, c.NotBefore.Format(time.DateOnly)))
		case left < certWarnBefore:
			worst = max(worst, StatusWarning)
			msgs = append(msgs, fmt.Sprintf("%q expires on %s", c.Subject.CommonName, c.NotAfter.Format(time.DateOnly)))
		}
	}
	if n == 0 {
		return StatusCritical, path + " holds no PEM certificate"
	}
	if len(msgs) == 0 {
		return StatusOK, fmt.Sprintf("%s: %d certificate(s) valid", path, n)
	}
	return worst, path + ": " + strings.Join(msgs, ", ")
}

// checkUpstream pings the upstream Kafka when fronting.
func checkUpstream(ctx context.Context, cfg Config, add addFunc) {
	if !cfg.Fronting() {
		add("upstream", StatusOK, "standalone: no upstream Kafka configured")
		return
	}
	opts, err := cfg.Upstream.ClientOptions()
	if err != nil {
		add("upstream", StatusCritical, "upstream client options: %v", err)
		return
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		add("upstream", StatusCritical, "upstream client: %v", err)
		return
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, upstreamTimeout)
	defer cancel()
	servers := strings.Join(cfg.Upstream.BootstrapServers(), ",")
	if err := cl.Ping(pctx); err != nil {
		add("upstream", StatusCritical, "upstream Kafka %s does not answer within %v: %v; check KAFKA_BOOTSTRAP_SERVERS and the network", servers, upstreamTimeout, err)
		return
	}
	add("upstream", StatusOK, "upstream Kafka %s answers", servers)
}
