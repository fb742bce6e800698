package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Topics of the registration events.
const (
	// IntrospectionTopic carries Introspection events.
	IntrospectionTopic = "onex.evt.platform.node-introspection.v1"
	// HeartbeatTopic carries Heartbeat events.
	HeartbeatTopic = "onex.evt.platform.node-heartbeat.v1"
	// RequestTopic carries commands asking nodes to introspect.
	RequestTopic = "onex.cmd.platform.request-introspection.v1"
)

// DefaultVersion is the node_version of a node that gives none.
const DefaultVersion = "1.0.0"

// Kind is the node_type of an event: the architectural kind of the node
// (the original system's EnumNodeKind).
type Kind string

// Node kinds.
const (
	KindEffect       Kind = "effect"
	KindCompute      Kind = "compute"
	KindReducer      Kind = "reducer"
	KindOrchestrator Kind = "orchestrator"
	// KindRuntimeHost is infrastructure that hosts nodes; onexbusd is one.
	KindRuntimeHost Kind = "runtime_host"
)

var kinds = []Kind{KindEffect, KindCompute, KindReducer, KindOrchestrator, KindRuntimeHost}

// ParseKind returns the kind named s (exactly as the constants spell it).
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !slices.Contains(kinds, k) {
		return "", fmt.Errorf("%w: node_type %q is not one of %s", ErrInvalidEvent, s, kindList())
	}
	return k, nil
}

func kindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Reason says why an Introspection event was published.
type Reason string

// Reasons.
const (
	ReasonStartup          Reason = "startup"
	ReasonShutdown         Reason = "shutdown"
	ReasonRequest          Reason = "request"
	ReasonHeartbeat        Reason = "heartbeat"
	ReasonHealthChange     Reason = "health_change"
	ReasonCapabilityChange Reason = "capability_change"
)

var reasons = []Reason{ReasonStartup, ReasonShutdown, ReasonRequest, ReasonHeartbeat, ReasonHealthChange, ReasonCapabilityChange}

// Capabilities are what a node says it can do: declared by its
// configuration, discovered at run time, and promised by its contract.
type Capabilities struct {
	// Declared capabilities, from configuration.
	Declared []string `json:"declared,omitempty"`
	// Discovered capabilities, found at run time.
	Discovered []string `json:"discovered,omitempty"`
	// Contract capabilities, from the node's contract.
	Contract []string `json:"contract,omitempty"`
}

// Introspection is the node introspection event
// (onex.evt.platform.node-introspection.v1).
type Introspection struct {
	// NodeID (node_id, required) identifies the node.
	NodeID uuid.UUID `json:"node_id"`
	// NodeType (node_type, required) is the node's kind.
	NodeType Kind `json:"node_type"`
	// NodeVersion (node_version) is a semantic version; default 1.0.0.
	NodeVersion string `json:"node_version"`
	// Reason (reason) says why the event was published; default startup.
	Reason Reason `json:"reason"`
	// Capabilities (capabilities) the node has.
	Capabilities Capabilities `json:"capabilities"`
	// Endpoints (endpoints) maps a name to an absolute URL.
	Endpoints map[string]string `json:"endpoints,omitempty"`
	// CurrentState (current_state), free text such as "running".
	CurrentState string `json:"current_state,omitempty"`
	// NodeName (node_name), NodeRole (node_role), NetworkID (network_id)
	// and DeploymentID (deployment_id) place the node; all optional.
	NodeName     string `json:"node_name,omitempty"`
	NodeRole     string `json:"node_role,omitempty"`
	NetworkID    string `json:"network_id,omitempty"`
	DeploymentID string `json:"deployment_id,omitempty"`
	// Epoch (epoch), when set, is at least 0.
	Epoch *int64 `json:"epoch,omitempty"`
	// PerformanceMetrics (performance_metrics) are named finite numbers.
	PerformanceMetrics map[string]float64 `json:"performance_metrics,omitempty"`
	// EventBus (event_bus) describes the bus the node is on.
	EventBus map[string]string `json:"event_bus,omitempty"`
	// Metadata (metadata) is free-form.
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResolvedFeatureFlags (resolved_feature_flags) are the flags in force.
	ResolvedFeatureFlags map[string]bool `json:"resolved_feature_flags,omitempty"`
	// CorrelationID (correlation_id, required) ties the event to the
	// request or lifecycle step that caused it.
	CorrelationID uuid.UUID `json:"correlation_id"`
	// Timestamp (timestamp, required) is when the event was made; on the
	// wire it always carries its time zone.
	Timestamp time.Time `json:"timestamp"`
}

// Heartbeat is the node heartbeat event (onex.evt.platform.node-heartbeat.v1).
type Heartbeat struct {
	// NodeID (node_id, required) identifies the node.
	NodeID uuid.UUID `json:"node_id"`
	// NodeType (node_type, required) is the node's kind.
	NodeType Kind `json:"node_type"`
	// NodeVersion (node_version) is a semantic version; default 1.0.0.
	NodeVersion string `json:"node_version"`
	// UptimeSeconds (uptime_seconds, required) is at least 0.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// ActiveOperationsCount (active_operations_count) is at least 0; default 0.
	ActiveOperationsCount int64 `json:"active_operations_count"`
	// MemoryUsageMB (memory_usage_mb), optional, is at least 0.
	MemoryUsageMB *float64 `json:"memory_usage_mb,omitempty"`
	// CPUUsagePercent (cpu_usage_percent), optional, is in 0..100.
	CPUUsagePercent *float64 `json:"cpu_usage_percent,omitempty"`
	// CorrelationID (correlation_id) is optional.
	CorrelationID *uuid.UUID `json:"correlation_id,omitempty"`
	// Timestamp (timestamp, required) is when the heartbeat was made.
	Timestamp time.Time `json:"timestamp"`
}

// semver is MAJOR.MINOR.PATCH with an optional pre-release and build
// (semver.org 2.0.0).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ValidVersion reports whether v is a semantic version.
func ValidVersion(v string) bool { return semver.MatchString(v) }

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%w: %s: %s", ErrInvalidEvent, field, fmt.Sprintf(format, args...)))
}

func (p *problems) common(id uuid.UUID, kind Kind, version string, ts time.Time) {
	if id == uuid.Nil {
		p.add("node_id", "required")
	}
	if _, err := ParseKind(string(kind)); err != nil {
		p.add("node_type", "%q is not one of %s", kind, kindList())
	}
	if !ValidVersion(version) {
		p.add("node_version", "%q is not a semantic version", version)
	}
	if ts.IsZero() {
		p.add("timestamp", "required")
	}
}

// Validate checks every rule of the model and reports every problem at
// once (errors.Join), each wrapping ErrInvalidEvent and naming its field.
func (e *Introspection) Validate() error {
	var p problems
	p.common(e.NodeID, e.NodeType, e.NodeVersion, e.Timestamp)
	if !slices.Contains(reasons, e.Reason) {
		p.add("reason", "%q is not a known reason", e.Reason)
	}
	if e.CorrelationID == uuid.Nil {
		p.add("correlation_id", "required")
	}
	names := make([]string, 0, len(e.Endpoints))
	for name := range e.Endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			p.add("endpoints", "empty endpoint name")
			continue
		}
		u, err := url.Parse(e.Endpoints[name])
		if err != nil || u.Scheme == "" || u.Host == "" {
			p.add("endpoints."+name, "%q is not an absolute URL", e.Endpoints[name])
		}
	}
	if e.Epoch != nil && *e.Epoch < 0 {
		p.add("epoch", "%d is negative", *e.Epoch)
	}
	for name, v := range e.PerformanceMetrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			p.add("performance_metrics."+name, "not a finite number")
		}
	}
	return errors.Join(p...)
}

// Validate checks every rule of the model and reports every problem at
// once (errors.Join), each wrapping ErrInvalidEvent and naming its field.
func (h *Heartbeat) Validate() error {
	var p problems
	p.common(h.NodeID, h.NodeType, h.NodeVersion, h.Timestamp)
	if h.UptimeSeconds < 0 || math.IsNaN(h.UptimeSeconds) || math.IsInf(h.UptimeSeconds, 0) {
		p.add("uptime_seconds", "%v is not a finite number >= 0", h.UptimeSeconds)
	}
	if h.ActiveOperationsCount < 0 {
		p.add("active_operations_count", "%d is negative", h.ActiveOperationsCount)
	}
	if m := h.MemoryUsageMB; m != nil && (*m < 0 || math.IsNaN(*m) || math.IsInf(*m, 0)) {
		p.add("memory_usage_mb", "%v is not a finite number >= 0", *m)
	}
	if c := h.CPUUsagePercent; c != nil && !(*c >= 0 && *c <= 100) {
		p.add("cpu_usage_percent", "%v is not in 0..100", *c)
	}
	if h.CorrelationID != nil && *h.CorrelationID == uuid.Nil {
		p.add("correlation_id", "the nil UUID")
	}
	return errors.Join(p...)
}

// strictFields decodes a JSON object's keys, refusing a key outside
// allowed and reporting the required keys that are missing. It returns
// every problem at once.
func strictFields(data []byte, allowed, required []string) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%w: not a JSON object: %w", ErrInvalidEvent, err)
	}
	var p problems
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			p.add(k, "unknown field (the model is frozen)")
		}
	}
	for _, k := range required {
		if v, ok := raw[k]; !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			p.add(k, "required")
		}
	}
	if ts, ok := raw["timestamp"]; ok {
		var s string
		if err := json.Unmarshal(ts, &s); err != nil {
			p.add("timestamp", "not a string")
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			p.add("timestamp", "%q is not an RFC 3339 time with a time zone", s)
		}
	}
	return errors.Join(p...)
}

var (
	introspectionFields = []string{"node_id", "node_type", "node_version", "reason", "capabilities",
		"endpoints", "current_state", "node_name", "node_role", "network_id", "deployment_id", "epoch",
		"performance_metrics", "event_bus", "metadata", "resolved_feature_flags", "correlation_id", "timestamp"}
	introspectionRequired = []string{"node_id", "node_type", "correlation_id", "timestamp"}
	heartbeatFields       = []string{"node_id", "node_type", "node_version", "uptime_seconds",
		"active_operations_count", "memory_usage_mb", "cpu_usage_percent", "correlation_id", "timestamp"}
	heartbeatRequired = []string{"node_id", "node_type", "uptime_seconds", "timestamp"}
)

// ParseIntrospection decodes and validates an Introspection event: unknown
// fields are refused, node_version and reason default to 1.0.0 and
// startup, and every problem is reported at once, wrapping ErrInvalidEvent.
func ParseIntrospection(data []byte) (Introspection, error) {
	if err := strictFields(data, introspectionFields, introspectionRequired); err != nil {
		return Introspection{}, err
	}
	e := Introspection{NodeVersion: DefaultVersion, Reason: ReasonStartup}
	if err := json.Unmarshal(data, &e); err != nil {
		return Introspection{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if err := e.Validate(); err != nil {
		return Introspection{}, err
	}
	return e, nil
}

// ParseHeartbeat decodes and validates a Heartbeat event: unknown fields
// are refused, node_version defaults to 1.0.0, and every problem is
// reported at once, wrapping ErrInvalidEvent.
func ParseHeartbeat(data []byte) (Heartbeat, error) {
	if err := strictFields(data, heartbeatFields, heartbeatRequired); err != nil {
		return Heartbeat{}, err
	}
	h := Heartbeat{NodeVersion: DefaultVersion}
	if err := json.Unmarshal(data, &h); err != nil {
		return Heartbeat{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if err := h.Validate(); err != nil {
		return Heartbeat{}, err
	}
	return h, nil
}
