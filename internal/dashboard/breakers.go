package dashboard

import (
	"fmt"
	"net/http"
)

func (d *Dashboard) breakers(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "breakers", "Breakers", d.bus.Health().Breakers)
}

// resetBreaker closes the (topic, group) breaker by hand.
func (d *Dashboard) resetBreaker(w http.ResponseWriter, r *http.Request) {
	topic, group := r.PostFormValue("topic"), r.PostFormValue("group")
	if topic == "" || group == "" {
		d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: topic and group are required", ErrBadRequest))
		return
	}
	d.bus.ResetBreaker(topic, group) // false: closed already, which is the state asked for
	back := r.PostFormValue("back")
	if back == "" || back[0] != '/' || (len(back) > 1 && back[1] == '/') {
		back = d.opts.Prefix + "breakers"
	}
	d.redirect(w, r, back)
}

func (d *Dashboard) config(w http.ResponseWriter, r *http.Request) {
	var rows []ConfigRow
	if d.opts.Config != nil {
		rows = d.opts.Config()
	}
	d.render(w, r, "config", "Configuration", rows)
}

func (d *Dashboard) routes() *http.ServeMux {
	p := d.opts.Prefix
	m := http.NewServeMux()
	m.Handle("GET "+p+"static/", d.static)
	m.HandleFunc("GET "+p+"{$}", d.overview)
	m.HandleFunc("GET "+p+"topics", d.topics)
	m.HandleFunc("GET "+p+"topics/{topic}", d.topic)
	m.HandleFunc("GET "+p+"topics/{topic}/messages", d.messages)
	m.HandleFunc("POST "+p+"topics/{topic}/messages/{part}/{offset}/republish", d.republish)
	m.HandleFunc("GET "+p+"tail/{topic}", d.tailPage)
	m.HandleFunc("GET "+p+"tail/{topic}/events", d.tailEvents)
	m.HandleFunc("GET "+p+"groups", d.groups)
	m.HandleFunc("GET "+p+"groups/{group}", d.group)
	m.HandleFunc("GET "+p+"groups/{group}/trend.json", d.trendJSON)
	m.HandleFunc("GET "+p+"dlq", d.dlq)
	m.HandleFunc("GET "+p+"dlq/{id}", d.letter)
	m.HandleFunc("POST "+p+"dlq/count", d.dlqCount)
	m.HandleFunc("POST "+p+"dlq/replay", d.dlqReplay)
	m.HandleFunc("POST "+p+"dlq/purge", d.dlqPurge)
	m.HandleFunc("GET "+p+"ops/{id}", d.op)
	m.HandleFunc("GET "+p+"ops/{id}/events", d.opEvents)
	m.HandleFunc("POST "+p+"ops/{id}/cancel", d.opCancel)
	m.HandleFunc("GET "+p+"breakers", d.breakers)
	m.HandleFunc("POST "+p+"breakers/reset", d.resetBreaker)
	m.HandleFunc("GET "+p+"config", d.config)
	return m
}
