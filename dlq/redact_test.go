package dlq_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/onexbus/onexbus/dlq"
)

// TestRedact is half of ACCEPTANCE 18: secrets in error text are redacted.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"password", "login failed password=hunter2 user=bob", "login failed password=[REDACTED] user=bob"},
		{"passwd", "passwd=hunter2", "passwd=[REDACTED]"},
		{"onexbusd token alone", "call with oxb_0a1b2c3d4e5f6071_Zm9v-YmFy_baz failed", "call with [REDACTED] failed"},
		{"pwd", "pwd=hunter2;host=db", "pwd=[REDACTED];host=db"},
		{"token", "token=abc123", "token=[REDACTED]"},
		{"secret", "client_secret=s3cr3t", "client_secret=[REDACTED]"},
		{"api_key", "GET /x?api_key=k123&page=2", "GET /x?api_key=[REDACTED]&page=2"},
		{"apikey", "apikey=k123", "apikey=[REDACTED]"},
		{"api-key header", "X-Api-Key: k123", "X-Api-Key: [REDACTED]"},
		{"access key", "aws_access_key_id=AKIA1234", "aws_access_key_id=[REDACTED]"},
		{"secret access key", "aws_secret_access_key=wJalr/K7", "aws_secret_access_key=[REDACTED]"},
		{"prefixed name", "db_password=hunter2", "db_password=[REDACTED]"},
		{"camel case", "accessToken=abc.def", "accessToken=[REDACTED]"},
		{"case", "PASSWORD=Hunter2", "PASSWORD=[REDACTED]"},
		{"spaces around =", "password = hunter2", "password = [REDACTED]"},
		{"colon", "password: hunter2", "password: [REDACTED]"},
		{"quoted value", `password="hunter 2" next`, `password="[REDACTED]" next`},
		{"single quoted", `password='hunter 2'`, `password='[REDACTED]'`},
		{"unterminated quote", `password="hunter2 x`, `password="[REDACTED] x`},
		{"json", `{"user":"bob","password":"hunter2"}`, `{"user":"bob","password":"[REDACTED]"}`},
		{"json spaced", `{"token": "abc", "n": 1}`, `{"token": "[REDACTED]", "n": 1}`},
		{"escaped newline in quotes", "token:\"\\\n\"", `token:"[REDACTED]"`},
		{"json escaped quote", `{"password":"a\"b"}`, `{"password":"[REDACTED]"}`},
		{"json inside %q", `body "{\"password\":\"hunter2\"}"`, `body "{\"password\":\"[REDACTED]\"}"`},
		{"authorization bearer", "Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [REDACTED]"},
		{"authorization lower", "authorization: Bearer x", "authorization: Bearer [REDACTED]"},
		{"authorization basic", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"},
		{"authorization json", `{"Authorization":"Bearer abc"}`, `{"Authorization":"[REDACTED]"}`},
		{"bare bearer", "sent Bearer abc.def to upstream", "sent Bearer [REDACTED] to upstream"},
		{"url userinfo", "dial postgres://app:hunter2@db:5432/orders failed", "dial postgres://app:[REDACTED]@db:5432/orders failed"},
		{"url userinfo with @ in password", "amqp://u:p@ss@host/vh", "amqp://u:[REDACTED]@host/vh"},
		{"url without user", "redis://:hunter2@cache:6379", "redis://:[REDACTED]@cache:6379"},
		{"url password and query token", "https://u:pw@h/p?token=t1", "https://u:[REDACTED]@h/p?token=[REDACTED]"},
		{"two secrets", "password=a token=b", "password=[REDACTED] token=[REDACTED]"},
		{"go map", "map[password:hunter2 user:bob]", "map[password:[REDACTED] user:bob]"},
		{"url without password kept", "GET https://example.com/a: 503", "GET https://example.com/a: 503"},
		{"plain error kept", "handler: context deadline exceeded", "handler: context deadline exceeded"},
		{"similar words kept", "tokenizer: bad input; secretary: alice; passwords: 3", "tokenizer: bad input; secretary: alice; passwords: 3"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dlq.Redact(tc.in)
			if got != tc.want {
				t.Fatalf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if again := dlq.Redact(got); again != got {
				t.Fatalf("Redact is not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestCapError(t *testing.T) {
	long := strings.Repeat("a", 600)
	m := dlq.TruncatedMarker
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short kept", "boom", 500, "boom"},
		{"exactly n kept", strings.Repeat("a", 20), 20, strings.Repeat("a", 20)},
		{"cut with marker", long, 500, long[:500-len(m)] + m},
		{"one over", strings.Repeat("a", 21), 20, strings.Repeat("a", 20-len(m)) + m},
		{"no split rune", strings.Repeat("é", 20), 21, "ééé" + m}, // 21-14 = 7 bytes: 3 é, not 3.5
		{"n below marker", "abcdefghijklmnopqrstuvwxyz", 5, "abcde"},
		{"n below marker splits no rune", "ééé", 3, "é"},
		{"zero", "abc", 0, ""},
		{"negative", "abc", -1, ""},
		{"empty", "", 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := dlq.CapError(tc.in, tc.n)
			if got != tc.want {
				t.Fatalf("CapError(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if tc.n >= 0 && len(got) > tc.n {
				t.Fatalf("CapError gave %d bytes, cap %d", len(got), tc.n)
			}
			if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
				t.Fatalf("CapError split a rune: %q", got)
			}
		})
	}
}

func FuzzRedactCap(f *testing.F) {
	f.Add("password=hunter2 postgres://u:p@h/x Authorization: Bearer t", 40)
	f.Add(`{"token":"a\"b"}`, 64)
	f.Fuzz(func(t *testing.T, s string, n int) {
		r := dlq.Redact(s)
		if again := dlq.Redact(r); again != r {
			t.Fatalf("Redact not idempotent: %q -> %q -> %q", s, r, again)
		}
		c := dlq.CapError(r, n)
		if len(c) > max(n, 0) {
			t.Fatalf("CapError(%q, %d) is %d bytes", r, n, len(c))
		}
		if utf8.ValidString(r) && !utf8.ValidString(c) {
			t.Fatalf("CapError split a rune: %q", c)
		}
	})
}
