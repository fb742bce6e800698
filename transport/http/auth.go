package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdhttp "net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/transport/auth"
)

// WithAuth makes every request authenticate against store (a bearer
// token, "Authorization: Bearer oxb_...", or HTTP Basic with a user's
// password) and every operation pass store's ACLs. Without it the API is
// open. A request without valid credentials is answered 401
// unauthenticated with WWW-Authenticate; one its principal may not make is
// answered 403 forbidden, both as problem+json. See authRules for what
// each operation needs.
func WithAuth(store *auth.Store) Option { return func(c *config) { c.auth = store } }

// WithRateLimiter refuses a principal's requests over its rate with 429
// rate_limited (problem+json, Retry-After in whole seconds): each
// authenticated request takes one token (RateLimiter.Reserve). It needs
// WithAuth; without it requests have no principal and the option does
// nothing.
func WithRateLimiter(l *auth.RateLimiter) Option { return func(c *config) { c.limiter = l } }

// authRealm names the protection space in WWW-Authenticate.
const authRealm = "onexbusd"

type principalKey struct{}

// Principal returns the authenticated principal of a request handled
// with WithAuth; false without authentication.
func Principal(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}

// authNeed is what one operation needs: op on the resource named by the
// path parameter param (empty for the cluster or when the name is
// checked by the handler, see below).
type authNeed struct {
	res   auth.Resource
	param string
	op    auth.Operation
}

// authRules maps every operation id to what it needs. An operation not
// listed needs admin on the cluster (fail closed). Bodies that name
// topics are checked by their handlers: publish-multi checks write per
// message, put-pull-group and put-push-group check read on the pattern
// (AuthorizePattern) besides create on the group.
var authRules = map[string]authNeed{
	"publish":         {auth.ResourceTopic, "topic", auth.OpWrite},
	"publish-multi":   {auth.ResourceCluster, "", 0}, // per message, in the handler
	"history":         {auth.ResourceTopic, "topic", auth.OpRead},
	"get-message":     {auth.ResourceTopic, "topic", auth.OpRead},
	"fetch":           {auth.ResourceTopic, "topic", auth.OpRead},
	"tail":            {auth.ResourceTopic, "topic", auth.OpRead},
	"get-topic":       {auth.ResourceTopic, "topic", auth.OpDescribe},
	"offset-for-time": {auth.ResourceTopic, "topic", auth.OpDescribe},
	"patch-topic":     {auth.ResourceTopic, "topic", auth.OpAlter},
	"delete-topic":    {auth.ResourceTopic, "topic", auth.OpDelete},
	"create-topic":    {auth.ResourceCluster, "", auth.OpCreate},
	"list-topics":     {auth.ResourceCluster, "", auth.OpDescribe},

	"list-groups":       {auth.ResourceCluster, "", auth.OpDescribe},
	"get-group":         {auth.ResourceGroup, "group", auth.OpDescribe},
	"group-lag":         {auth.ResourceGroup, "group", auth.OpDescribe},
	"seek-group":        {auth.ResourceGroup, "group", auth.OpAlter},
	"put-pull-group":    {auth.ResourceGroup, "group", auth.OpCreate},
	"get-pull-group":    {auth.ResourceGroup, "group", auth.OpDescribe},
	"delete-pull-group": {auth.ResourceGroup, "group", auth.OpDelete},
	"put-push-group":    {auth.ResourceGroup, "group", auth.OpCreate},
	"get-push-group":    {auth.ResourceGroup, "group", auth.OpDescribe},
	"delete-push-group": {auth.ResourceGroup, "group", auth.OpDelete},
	"receive":           {auth.ResourceGroup, "group", auth.OpRead},
	"ack":               {auth.ResourceGroup, "group", auth.OpRead},
	"nack":              {auth.ResourceGroup, "group", auth.OpRead},
	"extend":            {auth.ResourceGroup, "group", auth.OpRead},
	"stream":            {auth.ResourceGroup, "group", auth.OpRead},
	"reset-breaker":     {auth.ResourceGroup, "group", auth.OpAlter},
	"list-breakers":     {auth.ResourceCluster, "", auth.OpDescribe},

	// Dead letters carry message bodies and replay republishes them:
	// administration. So is storage and the operations that run it.
	"list-letters":     {auth.ResourceCluster, "", auth.OpAdmin},
	"get-letter":       {auth.ResourceCluster, "", auth.OpAdmin},
	"delete-letter":    {auth.ResourceCluster, "", auth.OpAdmin},
	"replay-letters":   {auth.ResourceCluster, "", auth.OpAdmin},
	"purge-letters":    {auth.ResourceCluster, "", auth.OpAdmin},
	"sync-storage":     {auth.ResourceCluster, "", auth.OpAdmin},
	"compact-storage":  {auth.ResourceCluster, "", auth.OpAdmin},
	"list-operations":  {auth.ResourceCluster, "", auth.OpDescribe},
	"get-operation":    {auth.ResourceCluster, "", auth.OpDescribe},
	"operation-events": {auth.ResourceCluster, "", auth.OpDescribe},
	"cancel-operation": {auth.ResourceCluster, "", auth.OpAdmin},
	// As Kafka's DescribeAcls: describe on the cluster.
	"list-acls": {auth.ResourceCluster, "", auth.OpDescribe},
}

// useAuth installs the authorization middleware when WithAuth is set;
// it must run before the operations are registered.
func (s *Server) useAuth() {
	if s.cfg.auth == nil {
		return
	}
	s.api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		principal, ok := Principal(ctx.Context())
		if !ok { // a handler reached without the authenticating wrapper
			_ = huma.WriteErr(s.api, ctx, stdhttp.StatusUnauthorized, "no credentials were checked")
			return
		}
		need, listed := authRules[ctx.Operation().OperationID]
		if !listed {
			need = authNeed{auth.ResourceCluster, "", auth.OpAdmin}
		}
		if need.op != 0 {
			name := ""
			if need.param != "" {
				name = ctx.Param(need.param)
			}
			if err := s.cfg.auth.Authorize(principal, need.res, name, need.op); err != nil {
				_ = huma.WriteErr(s.api, ctx, stdhttp.StatusForbidden, err.Error())
				return
			}
		}
		next(ctx)
	})
}

// authorizeTopic is the per-topic check of handlers whose body names
// topics: nil without WithAuth, else a 403 problem when refused.
func (s *Server) authorizeTopic(ctx context.Context, topic string, op auth.Operation) error {
	if s.cfg.auth == nil {
		return nil
	}
	principal, _ := Principal(ctx)
	if err := s.cfg.auth.Authorize(principal, auth.ResourceTopic, topic, op); err != nil {
		return newProblem(stdhttp.StatusForbidden, "forbidden", err.Error())
	}
	return nil
}

// authorizeSubscription checks read on every topic a group's pattern can
// match: nil without WithAuth, else a 403 (or 400 for a bad pattern).
func (s *Server) authorizeSubscription(ctx context.Context, pattern string) error {
	if s.cfg.auth == nil {
		return nil
	}
	principal, _ := Principal(ctx)
	err := s.cfg.auth.AuthorizePattern(principal, auth.ResourceTopic, pattern, auth.OpRead)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrInvalid):
		return newProblem(stdhttp.StatusBadRequest, "invalid_pattern", err.Error())
	}
	return newProblem(stdhttp.StatusForbidden, "forbidden", err.Error())
}

// handler returns the mux behind the authenticating wrapper when
// WithAuth is set: every path, the OpenAPI document included, needs
// credentials.
func (s *Server) handler() stdhttp.Handler {
	if s.cfg.auth == nil {
		return s.mux
	}
	next := stdhttp.Handler(s.mux)
	if l := s.cfg.limiter; l != nil {
		next = stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
			principal, _ := Principal(r.Context())
			if d := l.Reserve(principal); d > 0 {
				p := newProblem(stdhttp.StatusTooManyRequests, "rate_limited",
					fmt.Sprintf("%s is over its request rate; retry after %v", principal, d.Round(time.Millisecond)))
				p.retryAfter = d
				for k, v := range p.GetHeaders() {
					w.Header()[k] = v
				}
				writeProblem(w, p)
				return
			}
			s.mux.ServeHTTP(w, r)
		})
	}
	return authenticating(s.cfg.auth, next)
}

// authenticating answers 401 (problem+json, WWW-Authenticate) to a
// request without valid credentials and serves the others with their
// principal in the context (Principal).
func authenticating(store *auth.Store, next stdhttp.Handler) stdhttp.Handler {
	return stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		principal, err := authenticate(store, r)
		if err != nil {
			challenge := `Bearer realm="` + authRealm + `", Basic realm="` + authRealm + `", charset="UTF-8"`
			if errors.Is(err, auth.ErrUnknownToken) || errors.Is(err, auth.ErrTokenExpired) || errors.Is(err, auth.ErrTokenRevoked) {
				challenge = `Bearer realm="` + authRealm + `", error="invalid_token", Basic realm="` + authRealm + `", charset="UTF-8"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeAuthProblem(w, stdhttp.StatusUnauthorized, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, principal)))
	})
}

// Protect serves next only to requests that authenticate against store
// as WithAuth does (a bearer token or HTTP Basic) and whose principal
// may do op on the cluster; others get 401 (with WWW-Authenticate) or
// 403, as problem+json. onexbusd guards its admin listener (/metrics,
// the dashboard) with it.
func Protect(store *auth.Store, op auth.Operation, next stdhttp.Handler) stdhttp.Handler {
	return authenticating(store, stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		principal, _ := Principal(r.Context())
		if err := store.Authorize(principal, auth.ResourceCluster, "", op); err != nil {
			writeAuthProblem(w, stdhttp.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// errNoCredentials is the 401 detail of a request without credentials.
var errNoCredentials = errors.New("credentials required: a bearer token or HTTP Basic")

// authenticate returns the principal of r's Authorization header. Its
// errors name the user or the token id at most, never the secret.
func authenticate(store *auth.Store, r *stdhttp.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		// A client certificate the TLS layer verified against the client
		// CAs names the principal (its CommonName).
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			return auth.PrincipalFromCert(r.TLS.VerifiedChains[0][0])
		}
		return "", errNoCredentials
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return store.VerifyToken(cred)
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", errors.New("malformed Basic credentials")
		}
		if err := store.VerifyPassword(user, pass); err != nil {
			return "", err
		}
		return user, nil
	}
	return "", errors.New("unsupported authorization scheme: use Bearer or Basic")
}

// writeAuthProblem writes a problem outside huma's error path.
func writeAuthProblem(w stdhttp.ResponseWriter, status int, detail string) {
	writeProblem(w, newProblem(status, statusCode(status), detail))
}

// writeProblem writes p outside huma's error path.
func writeProblem(w stdhttp.ResponseWriter, p *Problem) {
	b, err := json.Marshal(p)
	if err != nil { // a Problem always encodes; keep the status regardless
		b = nil
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}
