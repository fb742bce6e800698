package schema

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
)

// extName is the registry's bucket in the bus's store (core.ExtUpdate).
const extName = "schema"

// Keys of the registry's bucket. Values are JSON.
var (
	keyConfig    = []byte("config") // globalConfig
	prefixSchema = "id/"            // + 4-byte big-endian id -> schemaRec
	prefixSubj   = "subject/"       // + subject -> subjectRec
	prefixTopic  = "topic/"         // + topic -> topicRec
)

type schemaRec struct {
	Type   Type   `json:"type"`
	Schema string `json:"schema"`
}

type versionRec struct {
	Version int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"`
}

type subjectRec struct {
	Versions []versionRec `json:"versions"` // ascending by Version
	Next     int          `json:"next"`     // the next version number: versions are never reused
	Level    Level        `json:"level,omitempty"`
}

type globalConfig struct {
	Level Level `json:"level"`
}

type topicRec struct {
	Mode Mode `json:"mode"`
}

// Registry is a schema registry kept in a bus's store: subjects with
// versions of Avro and JSON schemas, global ids, compatibility levels,
// and per-topic validation of what is published. All methods are safe
// for concurrent use.
//
// Lock order: wmu, then mu; the store's transactions run under wmu only.
type Registry struct {
	bus    *core.Bus
	log    hclog.Logger
	remove func() // uninstalls the publish validator

	wmu sync.Mutex // serialises changes and their store writes

	mu       sync.RWMutex // protects the maps and level below (brief holds, never across I/O)
	byID     map[int]*compiled
	canon    map[string]int // type + "\x00" + canonical text -> id
	subjects map[string]*subjectRec
	topics   map[string]Mode
	level    Level
	nextID   int

	defaultMode Mode
	strict      atomic.Int32 // topics (or the default) in warn or reject: 0 skips the lookup
	closed      atomic.Bool
	stats       counters
}

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the logger for warn-mode reports (default: discard).
func WithLogger(l hclog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithDefaultMode sets the validation mode of topics without one of
// their own (default ModeOff).
func WithDefaultMode(m Mode) Option { return func(r *Registry) { r.defaultMode = m } }

// Open loads the registry kept in bus's store and installs it as a
// publish validator on bus (see SetValidation). Close uninstalls it.
// It returns ErrClosed when the bus is closed, ErrInvalidMode for a bad
// WithDefaultMode, and a wrapped store error when the stored state does
// not decode.
func Open(bus *core.Bus, opts ...Option) (*Registry, error) {
	if bus == nil {
		return nil, fmt.Errorf("schema: open: nil bus")
	}
	r := &Registry{
		bus:      bus,
		log:      hclog.NewNullLogger(),
		byID:     map[int]*compiled{},
		canon:    map[string]int{},
		subjects: map[string]*subjectRec{},
		topics:   map[string]Mode{},
		level:    DefaultLevel,
		nextID:   1,
	}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	if _, err := parseMode(string(r.defaultMode)); err != nil {
		return nil, fmt.Errorf("schema: open: %w", err)
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.recountStrict()
	r.remove = bus.AddPublishValidator(r)
	return r, nil
}

// Close uninstalls the publish validator; later calls return ErrClosed.
// It is idempotent and does not close the bus.
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.remove()
	return nil
}

func (r *Registry) load() error {
	err := r.bus.ExtView(extName, func(b store.Bucket) error {
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			key := string(k)
			switch {
			case key == string(keyConfig):
				var g globalConfig
				if err := json.Unmarshal(v, &g); err != nil {
					return fmt.Errorf("config: %w", err)
				}
				r.level = g.Level
			case strings.HasPrefix(key, prefixSchema) && len(key) == len(prefixSchema)+4:
				id := int(binary.BigEndian.Uint32(k[len(prefixSchema):]))
				var s schemaRec
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("schema %d: %w", id, err)
				}
				c, err := compile(Schema{Schema: s.Schema, Type: s.Type})
				if err != nil {
					return fmt.Errorf("schema %d: %w", id, err)
				}
				r.byID[id] = c
				r.canon[canonKey(c)] = id
				r.nextID = max(r.nextID, id+1)
			case strings.HasPrefix(key, prefixSubj):
				var s subjectRec
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("subject %s: %w", key[len(prefixSubj):], err)
				}
				r.subjects[key[len(prefixSubj):]] = &s
			case strings.HasPrefix(key, prefixTopic):
				var t topicRec
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("topic %s: %w", key[len(prefixTopic):], err)
				}
				r.topics[key[len(prefixTopic):]] = t.Mode
			}
		}
		return nil
	})
	if err != nil {
		return r.wrapBusErr("open: load", err)
	}
	for name, s := range r.subjects {
		for _, v := range s.Versions {
			if r.byID[v.ID] == nil {
				return fmt.Errorf("schema: open: subject %s version %d names missing schema %d", name, v.Version, v.ID)
			}
		}
	}
	return nil
}

// wrapBusErr wraps a store or bus error of operation op.
func (r *Registry) wrapBusErr(op string, err error) error {
	if errors.Is(err, core.ErrClosed) {
		return fmt.Errorf("schema: %s: %w: %w", op, ErrClosed, err)
	}
	return fmt.Errorf("schema: %s: %w", op, err)
}

func canonKey(c *compiled) string { return string(c.typ) + "\x00" + c.canon }

func schemaKey(id int) []byte {
	k := make([]byte, len(prefixSchema)+4)
	copy(k, prefixSchema)
	binary.BigEndian.PutUint32(k[len(prefixSchema):], uint32(id))
	return k
}

func putJSON(b store.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func checkSubject(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("%w: %q (1-255 bytes)", ErrInvalidSubject, s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q (control character)", ErrInvalidSubject, s)
		}
	}
	return nil
}

func (r *Registry) begin() error {
	if r.closed.Load() {
		return ErrClosed
	}
	return nil
}

// live returns the subject's versions that are not soft-deleted
// (deleted: all of them), oldest first. Call with mu held.
func (s *subjectRec) live(deleted bool) []versionRec {
	var out []versionRec
	for _, v := range s.Versions {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

// liveSchemasLocked returns the compiled live versions of subject, oldest
// first.
func (r *Registry) liveSchemasLocked(subject string) []*compiled {
	s := r.subjects[subject]
	if s == nil {
		return nil
	}
	var out []*compiled
	for _, v := range s.live(false) {
		out = append(out, r.byID[v.ID])
	}
	return out
}

// levelLocked returns the level that applies to subject.
func (r *Registry) levelLocked(subject string) Level {
	if s := r.subjects[subject]; s != nil && s.Level != "" {
		return s.Level
	}
	return r.level
}

// Register adds s as the next version of subject, after checking it
// against the subject's compatibility level, and returns that version.
// A schema the subject already holds as a live version is not added
// again: its version is returned. The same schema text and type in
// another subject shares its id. The new version is durable (by the
// bus's policy) when Register returns.
//
// It returns errors wrapping ErrInvalidSubject, ErrInvalidSchema,
// ErrIncompatible (with the reasons), or ErrClosed.
func (r *Registry) Register(ctx context.Context, subject string, s Schema) (SubjectSchema, error) {
	if err := r.begin(); err != nil {
		return SubjectSchema{}, err
	}
	if err := checkSubject(subject); err != nil {
		return SubjectSchema{}, err
	}
	c, err := compile(s)
	if err != nil {
		return SubjectSchema{}, fmt.Errorf("schema: register in %s: %w", subject, err)
	}
	if err := ctx.Err(); err != nil {
		return SubjectSchema{}, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.RLock()
	id, known := r.canon[canonKey(c)]
	cur := r.subjects[subject]
	if known && cur != nil {
		for _, v := range cur.live(false) {
			if v.ID == id {
				r.mu.RUnlock()
				return SubjectSchema{Subject: subject, Version: v.Version, ID: id, Schema: r.byID[id].schema()}, nil
			}
		}
	}
	why := checkLevel(r.levelLocked(subject), c, r.liveSchemasLocked(subject))
	next := subjectRec{Next: 1}
	if cur != nil {
		next = *cur
		next.Versions = append([]versionRec(nil), cur.Versions...)
	}
	if !known {
		id = r.nextID
	} else {
		c = r.byID[id]
	}
	r.mu.RUnlock()
	if len(why) > 0 {
		return SubjectSchema{}, fmt.Errorf("schema: register in %s: %w: %s", subject, ErrIncompatible, strings.Join(why, "; "))
	}
	if next.Next < 1 {
		next.Next = 1
	}
	version := next.Next
	next.Versions = append(next.Versions, versionRec{Version: version, ID: id})
	next.Next++
	err = r.bus.ExtUpdate(extName, func(b store.Bucket) error {
		if !known {
			if err := putJSON(b, schemaKey(id), schemaRec{Type: c.typ, Schema: c.text}); err != nil {
				return err
			}
		}
		return putJSON(b, []byte(prefixSubj+subject), &next)
	})
	if err != nil {
		return SubjectSchema{}, r.wrapBusErr("register in "+subject, err)
	}
	r.mu.Lock()
	if !known {
		r.byID[id] = c
		r.canon[canonKey(c)] = id
		r.nextID = id + 1
	}
	r.subjects[subject] = &next
	r.mu.Unlock()
	return SubjectSchema{Subject: subject, Version: version, ID: id, Schema: c.schema()}, nil
}

// Lookup returns the version of subject that holds s (a live one, or any
// when deleted is true). It returns ErrSubjectNotFound or
// ErrSchemaNotFound when there is none, ErrInvalidSchema when s does not
// parse.
func (r *Registry) Lookup(subject string, s Schema, deleted bool) (SubjectSchema, error) {
	if err := r.begin(); err != nil {
		return SubjectSchema{}, err
	}
	c, err := compile(s)
	if err != nil {
		return SubjectSchema{}, fmt.Errorf("schema: lookup in %s: %w", subject, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	cur := r.subjects[subject]
	if cur == nil || len(cur.live(deleted)) == 0 {
		return SubjectSchema{}, fmt.Errorf("%w: %s", ErrSubjectNotFound, subject)
	}
	id, ok := r.canon[canonKey(c)]
	if ok {
		vs := cur.live(deleted)
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].ID == id {
				return SubjectSchema{Subject: subject, Version: vs[i].Version, ID: id, Schema: r.byID[id].schema()}, nil
			}
		}
	}
	return SubjectSchema{}, fmt.Errorf("%w: in subject %s", ErrSchemaNotFound, subject)
}

// Subjects returns the subjects with a live version (with deleted: with
// any version), sorted.
func (r *Registry) Subjects(deleted bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []string{}
	for name, s := range r.subjects {
		if len(s.live(deleted)) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Versions returns subject's version numbers, ascending: the live ones,
// or all with deleted. It returns ErrSubjectNotFound when there are none.
func (r *Registry) Versions(subject string, deleted bool) ([]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.subjects[subject]
	if s == nil || len(s.live(deleted)) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrSubjectNotFound, subject)
	}
	var out []int
	for _, v := range s.live(deleted) {
		out = append(out, v.Version)
	}
	return out, nil
}

// Latest is the version argument meaning the newest live version.
const Latest = -1

// Version returns one version of subject (Latest: the newest live one);
// deleted lets it return a soft-deleted version. It returns
// ErrSubjectNotFound, ErrVersionNotFound or ErrInvalidVersion.
func (r *Registry) Version(subject string, version int, deleted bool) (SubjectSchema, error) {
	if version != Latest && version < 1 {
		return SubjectSchema{}, fmt.Errorf("%w: %d", ErrInvalidVersion, version)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, err := r.versionLocked(subject, version, deleted)
	if err != nil {
		return SubjectSchema{}, err
	}
	return SubjectSchema{Subject: subject, Version: v.Version, ID: v.ID, Schema: r.byID[v.ID].schema()}, nil
}

func (r *Registry) versionLocked(subject string, version int, deleted bool) (versionRec, error) {
	s := r.subjects[subject]
	if s == nil || len(s.live(true)) == 0 {
		return versionRec{}, fmt.Errorf("%w: %s", ErrSubjectNotFound, subject)
	}
	vs := s.live(deleted)
	if version == Latest {
		if len(vs) == 0 {
			return versionRec{}, fmt.Errorf("%w: %s has no live version", ErrVersionNotFound, subject)
		}
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.Version == version {
			return v, nil
		}
	}
	return versionRec{}, fmt.Errorf("%w: %s version %d", ErrVersionNotFound, subject, version)
}

// SchemaByID returns the schema with global id id, or ErrSchemaNotFound.
func (r *Registry) SchemaByID(id int) (Schema, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := r.byID[id]
	if c == nil {
		return Schema{}, fmt.Errorf("%w: id %d", ErrSchemaNotFound, id)
	}
	return c.schema(), nil
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Usages returns the subject versions that use schema id (live ones, or
// all with deleted), sorted. It returns ErrSchemaNotFound for an unknown id.
func (r *Registry) Usages(id int, deleted bool) ([]SubjectVersion, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.byID[id] == nil {
		return nil, fmt.Errorf("%w: id %d", ErrSchemaNotFound, id)
	}
	out := []SubjectVersion{}
	for name, s := range r.subjects {
		for _, v := range s.live(deleted) {
			if v.ID == id {
				out = append(out, SubjectVersion{Subject: name, Version: v.Version})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// AllVersions is the version argument of CheckCompatibility meaning
// every live version, whatever the level's transitivity.
const AllVersions = -2

// CheckCompatibility reports whether s could be registered after the
// given version of subject (Latest, AllVersions or a number) under the
// subject's level, and why not. A subject without versions accepts
// anything when version is Latest or AllVersions; a numbered version of
// it is ErrSubjectNotFound.
func (r *Registry) CheckCompatibility(subject string, version int, s Schema) (bool, []string, error) {
	if err := r.begin(); err != nil {
		return false, nil, err
	}
	if version != Latest && version != AllVersions && version < 1 {
		return false, nil, fmt.Errorf("%w: %d", ErrInvalidVersion, version)
	}
	c, err := compile(s)
	if err != nil {
		return false, nil, fmt.Errorf("schema: check compatibility in %s: %w", subject, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	level := r.levelLocked(subject)
	live := r.liveSchemasLocked(subject)
	var against []*compiled
	switch {
	case version == AllVersions:
		against = live
		level = level.all()
	case version == Latest:
		against = live
	default:
		v, err := r.versionLocked(subject, version, false)
		if err != nil {
			return false, nil, err
		}
		against = []*compiled{r.byID[v.ID]}
		level = level.single()
	}
	why := checkLevel(level, c, against)
	return len(why) == 0, why, nil
}

// Compatibility returns the global level.
func (r *Registry) Compatibility() Level {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.level
}

// SubjectCompatibility returns subject's own level, or
// ErrCompatibilityNotSet; with fallback, the global level instead.
func (r *Registry) SubjectCompatibility(subject string, fallback bool) (Level, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s := r.subjects[subject]; s != nil && s.Level != "" {
		return s.Level, nil
	}
	if fallback {
		return r.level, nil
	}
	return "", fmt.Errorf("%w: %s", ErrCompatibilityNotSet, subject)
}

// SetCompatibility sets the level of subject, or the global one when
// subject is empty, durably. It returns ErrInvalidCompatibility for an
// unknown level.
func (r *Registry) SetCompatibility(ctx context.Context, subject string, level Level) error {
	if err := r.begin(); err != nil {
		return err
	}
	if _, err := parseLevel(string(level)); err != nil {
		return err
	}
	if subject != "" {
		if err := checkSubject(subject); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.setLevel(subject, level)
}

// DeleteSubjectCompatibility removes subject's own level (the global one
// applies again) and returns it; ErrCompatibilityNotSet when it had none.
func (r *Registry) DeleteSubjectCompatibility(ctx context.Context, subject string) (Level, error) {
	if err := r.begin(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	prev, err := r.SubjectCompatibility(subject, false)
	if err != nil {
		return "", err
	}
	return prev, r.setLevel(subject, "")
}

func (r *Registry) setLevel(subject string, level Level) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if subject == "" {
		err := r.bus.ExtUpdate(extName, func(b store.Bucket) error { return putJSON(b, keyConfig, globalConfig{Level: level}) })
		if err != nil {
			return r.wrapBusErr("set compatibility", err)
		}
		r.mu.Lock()
		r.level = level
		r.mu.Unlock()
		return nil
	}
	r.mu.RLock()
	next := subjectRec{Next: 1}
	if cur := r.subjects[subject]; cur != nil {
		next = *cur
	}
	r.mu.RUnlock()
	next.Level = level
	err := r.bus.ExtUpdate(extName, func(b store.Bucket) error { return putJSON(b, []byte(prefixSubj+subject), &next) })
	if err != nil {
		return r.wrapBusErr("set compatibility of "+subject, err)
	}
	r.mu.Lock()
	r.subjects[subject] = &next
	r.mu.Unlock()
	return nil
}

// DeleteSubject soft-deletes every live version of subject (permanent:
// removes the soft-deleted ones for good) and returns the versions it
// deleted. Schemas keep their ids. Errors: ErrSubjectNotFound,
// ErrSubjectSoftDeleted (soft delete of a subject with no live version),
// ErrSubjectNotSoftDeleted (permanent delete of one with live versions).
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	if err := r.begin(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.RLock()
	cur := r.subjects[subject]
	if cur == nil || len(cur.Versions) == 0 {
		r.mu.RUnlock()
		return nil, fmt.Errorf("%w: %s", ErrSubjectNotFound, subject)
	}
	next := *cur
	next.Versions = nil
	var deleted []int
	live := len(cur.live(false))
	for _, v := range cur.Versions {
		switch {
		case !permanent && !v.Deleted:
			v.Deleted = true
			deleted = append(deleted, v.Version)
		case permanent:
			deleted = append(deleted, v.Version)
			continue
		}
		next.Versions = append(next.Versions, v)
	}
	r.mu.RUnlock()
	switch {
	case !permanent && live == 0:
		return nil, fmt.Errorf("%w: %s", ErrSubjectSoftDeleted, subject)
	case permanent && live > 0:
		return nil, fmt.Errorf("%w: %s", ErrSubjectNotSoftDeleted, subject)
	}
	if err := r.putSubject(subject, &next); err != nil {
		return nil, err
	}
	return deleted, nil
}

// DeleteVersion soft-deletes one version of subject (Latest: the newest
// live one), or with permanent removes a soft-deleted one, and returns
// its number. Errors: ErrSubjectNotFound, ErrVersionNotFound,
// ErrInvalidVersion, ErrVersionSoftDeleted, ErrVersionNotSoftDeleted.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	if err := r.begin(); err != nil {
		return 0, err
	}
	if version != Latest && version < 1 {
		return 0, fmt.Errorf("%w: %d", ErrInvalidVersion, version)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.RLock()
	v, err := r.versionLocked(subject, version, version != Latest)
	if err != nil {
		r.mu.RUnlock()
		return 0, err
	}
	cur := r.subjects[subject]
	next := *cur
	next.Versions = nil
	for _, x := range cur.Versions {
		if x.Version == v.Version {
			if permanent {
				continue
			}
			x.Deleted = true
		}
		next.Versions = append(next.Versions, x)
	}
	r.mu.RUnlock()
	switch {
	case !permanent && v.Deleted:
		return 0, fmt.Errorf("%w: %s version %d", ErrVersionSoftDeleted, subject, v.Version)
	case permanent && !v.Deleted:
		return 0, fmt.Errorf("%w: %s version %d", ErrVersionNotSoftDeleted, subject, v.Version)
	}
	if err := r.putSubject(subject, &next); err != nil {
		return 0, err
	}
	return v.Version, nil
}

// putSubject stores and installs a subject's new record. Call with wmu held.
func (r *Registry) putSubject(subject string, next *subjectRec) error {
	err := r.bus.ExtUpdate(extName, func(b store.Bucket) error { return putJSON(b, []byte(prefixSubj+subject), next) })
	if err != nil {
		return r.wrapBusErr("delete in "+subject, err)
	}
	r.mu.Lock()
	r.subjects[subject] = next
	r.mu.Unlock()
	return nil
}
