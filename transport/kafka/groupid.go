package kafka

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxGroupIDLen is the longest group id GroupID returns.
const MaxGroupIDLen = 255

// GroupID builds a consumer group id by the original system's convention:
// {env}.{service}.{node}.{purpose}.{version}, then .{instance} and
// .{topicSuffix} when they are not empty. An id longer than MaxGroupIDLen
// is cut to MaxGroupIDLen-17 characters followed by "." and the first 16
// hex digits of the SHA-256 of the whole id, so distinct long ids stay
// distinct and the same input always gives the same id.
func GroupID(env, service, node, purpose, version, instance, topicSuffix string) string {
	parts := []string{env, service, node, purpose, version}
	if instance != "" {
		parts = append(parts, instance)
	}
	if topicSuffix != "" {
		parts = append(parts, topicSuffix)
	}
	id := strings.Join(parts, ".")
	if len(id) <= MaxGroupIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return id[:MaxGroupIDLen-17] + "." + hex.EncodeToString(sum[:8])
}
