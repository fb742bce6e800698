// Package http is onexbus's HTTP API: publish, stateless consumption with
// leases, webhooks, reads, live tails and administration of a core.Bus,
// served on net/http with an OpenAPI 3.1 document generated from the code
// (huma v2). onexbusd mounts it; an application that embeds the bus can
// mount it too:
//
//	api, err := http.New(bus)
//	srv := &stdhttp.Server{Addr: "127.0.0.1:8080", Handler: api.Handler()}
//
// # Resources
//
// Everything lives under /v1 with application/json bodies: topics and
// their messages (publish one, a batch with one result per message in
// order, or NDJSON in and out; history; one message; a stateless fetch by
// partition and offset with long poll; a live tail over SSE that resumes
// with Last-Event-ID), consumer groups (lag in messages and seconds, seek),
// pull groups with leases, webhook push subscriptions, breakers, the
// dead-letter queue with replay and purge as long-running operations, and
// storage maintenance. /openapi.json serves the document; the copy
// committed beside this file is checked against it by a test.
//
// # Consumption is stateless
//
// A pull group is declared on the server (PUT /v1/groups/{group}/pull) and
// is an ordinary consumer group of the bus whose handler parks each
// delivery until a client leases it. Any client on any connection may
// receive, ack, nack or extend: there is no consumer instance to lose. A
// lease not acked before it expires counts as a failed attempt, exactly as
// a failing handler: retried with backoff, counted by the breaker, and
// dead-lettered at the limit. Ordering is the group's: with key or
// partition ordering a lease on key K holds back the later messages of K
// until it is acked, nacked or dead-lettered. Declarations live in memory:
// a restarted server needs its pull and push groups declared again (PUT is
// idempotent), while their positions, attempts and dead letters are in the
// bus's log and survive.
//
// # Errors
//
// Every error is RFC 9457 application/problem+json with a stable snake_case
// code and a retryable flag; 429 and 503 carry Retry-After. Engine errors
// map to statuses: invalid topic 400, not an ONEX topic (reject mode) 422,
// too large 413, unknown topic or letter 404, closed 503, backlog full 503.
//
// # Caveats
//
// PublishBatch is not atomic: the results say which messages were stored,
// and a client retries only the failures with the same message_id, which
// the dedup window makes safe. Seeks only move a group forward (the
// engine's cursors do not go back); history and replay serve the past.
package http
