package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleDeleteTopics deletes each named topic (v6: by name or id) with its
// records, group positions and settings.
func handleDeleteTopics(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name string
		id   [16]byte
	}
	var targets []target
	for _, n := range req.TopicNames {
		targets = append(targets, target{name: n})
	}
	for _, t := range req.Topics {
		tg := target{id: t.TopicID}
		if t.Topic != nil {
			tg.name = *t.Topic
		}
		targets = append(targets, tg)
	}
	for _, tg := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		name := tg.name
		if name == "" && tg.id != [16]byte{} {
			name, _ = s.kl.TopicByID(tg.id)
		}
		rt.TopicID = tg.id
		if name != "" {
			rt.Topic = &name
		}
		code := func() *kerr.Error {
			if name == "" {
				if tg.id != [16]byte{} {
					return kerr.UnknownTopicID
				}
				return kerr.InvalidTopicException
			}
			if name == offsetsTopicName {
				return kerr.InvalidRequest
			}
			if s.denied(c, auth.ResourceTopic, name, auth.OpDelete) {
				return kerr.TopicAuthorizationFailed
			}
			if _, ok := s.kl.Topic(name); !ok {
				return kerr.UnknownTopicOrPartition
			}
			rt.TopicID, _ = s.kl.TopicID(name)
			if err := s.kl.DeleteTopic(c.ctx, name); err != nil {
				if errors.Is(err, core.ErrUnknownTopic) {
					return kerr.UnknownTopicOrPartition
				}
				s.log.Warn("kafka: delete topic", "topic", name, "error", err)
				msg := err.Error()
				rt.ErrorMessage = &msg
				return kerr.KafkaStorageError
			}
			return nil
		}()
		if code != nil {
			rt.ErrorCode = code.Code
		}
		resp.Topics = append(resp.Topics, rt)
	}
	reply(resp)
}
