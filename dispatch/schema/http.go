package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the media type of every response of the registry API.
const ContentType = "application/vnd.schemaregistry.v1+json"

// maxBody caps a request body (a schema is rarely past a few kilobytes).
const maxBody = 8 << 20

// NewRegistryHandler returns the subset of the Confluent Schema Registry
// HTTP API that clients and serializers use (franz-go's pkg/sr, Confluent's
// serdes), served from r:
//
//	GET    /subjects                                  ?deleted, ?subjectPrefix
//	GET    /subjects/{s}/versions                     ?deleted
//	POST   /subjects/{s}/versions                     register: {"id"}
//	GET    /subjects/{s}/versions/{v}                 v: number, latest or -1; ?deleted
//	GET    /subjects/{s}/versions/{v}/schema          the schema text
//	DELETE /subjects/{s}/versions/{v}                 ?permanent
//	POST   /subjects/{s}                              lookup; ?deleted
//	DELETE /subjects/{s}                              ?permanent
//	GET    /schemas/ids/{id}                          and /schema, /versions, /subjects
//	GET    /schemas/types
//	POST   /compatibility/subjects/{s}/versions/{v}   ?verbose
//	POST   /compatibility/subjects/{s}/versions       against all versions
//	GET    /config, PUT /config                       global level
//	GET    /config/{s} (?defaultToGlobal), PUT /config/{s}, DELETE /config/{s}
//
// Responses are application/vnd.schemaregistry.v1+json; errors are
// {"error_code", "message"} with Confluent's codes (40401 subject not
// found, 40402 version not found, 40403 schema not found, 40404/40405
// subject (not) soft-deleted, 40406/40407 version (not) soft-deleted,
// 40408 subject level not set, 409 incompatible, 42201 invalid schema,
// 42202 invalid version, 42203 invalid compatibility level, 42208
// invalid subject, 50001 store error, 50002 timeout) and the HTTP status
// of their first three digits. Mount it at the root of a listener, or
// under a prefix with http.StripPrefix. It has no authentication of its
// own: wrap it.
func NewRegistryHandler(r *Registry) http.Handler {
	h := &api{r: r}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { reply(w, struct{}{}) })
	mux.HandleFunc("GET /subjects", h.subjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", h.versions)
	mux.HandleFunc("POST /subjects/{subject}/versions", h.register)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", h.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", h.versionText)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	mux.HandleFunc("POST /subjects/{subject}", h.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", h.deleteSubject)
	mux.HandleFunc("GET /schemas/ids/{id}", h.byID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", h.byIDText)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", h.idVersions)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", h.idSubjects)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) { reply(w, []Type{JSON, Avro}) })
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	mux.HandleFunc("GET /config", h.getConfig)
	mux.HandleFunc("PUT /config", h.putConfig)
	mux.HandleFunc("GET /config/{subject}", h.getConfig)
	mux.HandleFunc("PUT /config/{subject}", h.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", h.deleteConfig)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, pattern := mux.Handler(req); pattern == "" {
			// The mux's own 404/405 are text/plain: answer in the API's shape.
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
				probe := req.Clone(req.Context())
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" {
					replyError(w, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed")
					return
				}
			}
			replyError(w, http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found")
			return
		}
		mux.ServeHTTP(w, req)
	})
}

type api struct{ r *Registry }

type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func reply(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		replyError(w, http.StatusInternalServerError, 50001, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(data) // a client gone away is not ours to report
}

func replyError(w http.ResponseWriter, status, code int, msg string) {
	data, _ := json.Marshal(apiError{Code: code, Message: msg}) // two plain fields: cannot fail
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// codes maps the sentinels to Confluent's error codes, first match wins.
var codes = []struct {
	err  error
	code int
}{
	{ErrSubjectNotFound, 40401}, {ErrVersionNotFound, 40402}, {ErrSchemaNotFound, 40403},
	{ErrSubjectSoftDeleted, 40404}, {ErrSubjectNotSoftDeleted, 40405},
	{ErrVersionSoftDeleted, 40406}, {ErrVersionNotSoftDeleted, 40407}, {ErrCompatibilityNotSet, 40408},
	{ErrIncompatible, 409}, {ErrInvalidSchema, 42201}, {ErrInvalidVersion, 42202},
	{ErrInvalidCompatibility, 42203}, {ErrInvalidSubject, 42208},
	{context.DeadlineExceeded, 50002}, {context.Canceled, 50002},
}

func fail(w http.ResponseWriter, err error) {
	code := 50001
	for _, c := range codes {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	status := code
	for status >= 1000 {
		status /= 10
	}
	replyError(w, status, code, err.Error())
}

func flag(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

// parseVersion reads a {version} path value: a positive number, latest
// or -1.
func parseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return Latest, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%w: %q (a positive number, latest or -1)", ErrInvalidVersion, s)
	}
	return int(v), nil
}

func parseID(w http.ResponseWriter, req *http.Request) (int, bool) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 32)
	if err != nil || id < 1 {
		fail(w, fmt.Errorf("%w: id %q", ErrSchemaNotFound, req.PathValue("id")))
		return 0, false
	}
	return int(id), true
}

// decode reads a JSON request body into v; a bad body is HTTP 400 (as
// Confluent's registry answers unparsable requests) or 422 for a schema
// request without a schema.
func decode(w http.ResponseWriter, req *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		replyError(w, http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "request body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		replyError(w, http.StatusBadRequest, http.StatusBadRequest, "request body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

// schemaRequest is the body of register, lookup and compatibility calls.
type schemaRequest struct {
	Schema     *string     `json:"schema"`
	SchemaType Type        `json:"schemaType"`
	References []Reference `json:"references"`
}

func readSchema(w http.ResponseWriter, req *http.Request) (Schema, bool) {
	var s schemaRequest
	if !decode(w, req, &s) {
		return Schema{}, false
	}
	if s.Schema == nil {
		fail(w, fmt.Errorf("%w: the request has no schema", ErrInvalidSchema))
		return Schema{}, false
	}
	return Schema{Schema: *s.Schema, Type: Type(strings.ToUpper(string(s.SchemaType))), References: s.References}, true
}

// versionReply is a subject version as the API shows it.
type versionReply struct {
	Subject    string `json:"subject"`
	Version    int    `json:"version"`
	ID         int    `json:"id"`
	SchemaType Type   `json:"schemaType,omitempty"`
	Schema     string `json:"schema"`
}

func toReply(s SubjectSchema) versionReply {
	return versionReply{Subject: s.Subject, Version: s.Version, ID: s.ID, SchemaType: s.Type, Schema: s.Schema.Schema}
}

func (h *api) subjects(w http.ResponseWriter, req *http.Request) {
	all := h.r.Subjects(flag(req, "deleted"))
	prefix := req.URL.Query().Get("subjectPrefix")
	out := all[:0]
	for _, s := range all {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	reply(w, out)
}

func (h *api) versions(w http.ResponseWriter, req *http.Request) {
	vs, err := h.r.Versions(req.PathValue("subject"), flag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, vs)
}

func (h *api) register(w http.ResponseWriter, req *http.Request) {
	s, ok := readSchema(w, req)
	if !ok {
		return
	}
	ss, err := h.r.Register(req.Context(), req.PathValue("subject"), s)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, struct {
		ID int `json:"id"`
	}{ss.ID})
}

func (h *api) subjectVersion(w http.ResponseWriter, req *http.Request) (SubjectSchema, bool) {
	v, err := parseVersion(req.PathValue("version"))
	if err != nil {
		fail(w, err)
		return SubjectSchema{}, false
	}
	ss, err := h.r.Version(req.PathValue("subject"), v, flag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return SubjectSchema{}, false
	}
	return ss, true
}

func (h *api) version(w http.ResponseWriter, req *http.Request) {
	if ss, ok := h.subjectVersion(w, req); ok {
		reply(w, toReply(ss))
	}
}

func (h *api) versionText(w http.ResponseWriter, req *http.Request) {
	if ss, ok := h.subjectVersion(w, req); ok {
		w.Header().Set("Content-Type", ContentType)
		_, _ = io.WriteString(w, ss.Schema.Schema)
	}
}

func (h *api) deleteVersion(w http.ResponseWriter, req *http.Request) {
	v, err := parseVersion(req.PathValue("version"))
	if err != nil {
		fail(w, err)
		return
	}
	n, err := h.r.DeleteVersion(req.Context(), req.PathValue("subject"), v, flag(req, "permanent"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, n)
}

func (h *api) lookup(w http.ResponseWriter, req *http.Request) {
	s, ok := readSchema(w, req)
	if !ok {
		return
	}
	ss, err := h.r.Lookup(req.PathValue("subject"), s, flag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, toReply(ss))
}

func (h *api) deleteSubject(w http.ResponseWriter, req *http.Request) {
	vs, err := h.r.DeleteSubject(req.Context(), req.PathValue("subject"), flag(req, "permanent"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, vs)
}

func (h *api) byID(w http.ResponseWriter, req *http.Request) {
	id, ok := parseID(w, req)
	if !ok {
		return
	}
	s, err := h.r.SchemaByID(id)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, struct {
		SchemaType Type   `json:"schemaType,omitempty"`
		Schema     string `json:"schema"`
	}{s.Type, s.Schema})
}

func (h *api) byIDText(w http.ResponseWriter, req *http.Request) {
	id, ok := parseID(w, req)
	if !ok {
		return
	}
	s, err := h.r.SchemaByID(id)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, s.Schema)
}

func (h *api) idVersions(w http.ResponseWriter, req *http.Request) {
	id, ok := parseID(w, req)
	if !ok {
		return
	}
	us, err := h.r.Usages(id, flag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, us)
}

func (h *api) idSubjects(w http.ResponseWriter, req *http.Request) {
	id, ok := parseID(w, req)
	if !ok {
		return
	}
	us, err := h.r.Usages(id, flag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return
	}
	out := []string{}
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	reply(w, out)
}

func (h *api) compatibility(w http.ResponseWriter, req *http.Request) {
	version := AllVersions
	if raw := req.PathValue("version"); raw != "" {
		v, err := parseVersion(raw)
		if err != nil {
			fail(w, err)
			return
		}
		version = v
	}
	s, ok := readSchema(w, req)
	if !ok {
		return
	}
	is, why, err := h.r.CheckCompatibility(req.PathValue("subject"), version, s)
	if err != nil {
		fail(w, err)
		return
	}
	out := struct {
		Is       bool     `json:"is_compatible"`
		Messages []string `json:"messages,omitempty"`
	}{Is: is}
	if flag(req, "verbose") {
		out.Messages = why
	}
	reply(w, out)
}

func (h *api) getConfig(w http.ResponseWriter, req *http.Request) {
	level := h.r.Compatibility()
	if subject := req.PathValue("subject"); subject != "" {
		l, err := h.r.SubjectCompatibility(subject, flag(req, "defaultToGlobal"))
		if err != nil {
			fail(w, err)
			return
		}
		level = l
	}
	reply(w, struct {
		Level Level `json:"compatibilityLevel"`
	}{level})
}

func (h *api) putConfig(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Level string `json:"compatibility"`
	}
	if !decode(w, req, &body) {
		return
	}
	level, err := parseLevel(strings.ToUpper(body.Level))
	if err != nil {
		fail(w, err)
		return
	}
	if err := h.r.SetCompatibility(req.Context(), req.PathValue("subject"), level); err != nil {
		fail(w, err)
		return
	}
	reply(w, struct {
		Level Level `json:"compatibility"`
	}{level})
}

func (h *api) deleteConfig(w http.ResponseWriter, req *http.Request) {
	prev, err := h.r.DeleteSubjectCompatibility(req.Context(), req.PathValue("subject"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, struct {
		Level Level `json:"compatibility"`
	}{prev})
}
