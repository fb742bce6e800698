package message

import "testing"

// TestMurmur2 uses the vectors of Kafka's own UtilsTest.testMurmur2.
func TestMurmur2(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Murmur2([]byte(tt.in)); got != tt.want {
				t.Fatalf("Murmur2(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestKafkaPartition(t *testing.T) {
	tests := []struct {
		key        string
		partitions int32
		want       int32
	}{
		// (murmur2 & 0x7fffffff) % n, worked from the vectors above.
		{"21", 10, (-973932308 & 0x7fffffff) % 10},
		{"foobar", 7, (-790332482 & 0x7fffffff) % 7},
		{"abc", 3, 479470107 % 3},
		{"abc", 1, 0},
		{"abc", 0, 0},
		{"abc", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := KafkaPartition([]byte(tt.key), tt.partitions); got != tt.want {
				t.Fatalf("KafkaPartition(%q, %d) = %d, want %d", tt.key, tt.partitions, got, tt.want)
			}
		})
	}
	for n := int32(1); n < 50; n++ {
		if p := KafkaPartition([]byte("key"), n); p < 0 || p >= n {
			t.Fatalf("partition %d of %d", p, n)
		}
	}
}

func BenchmarkKafkaPartition(b *testing.B) {
	key := []byte("customer-0000000042")
	b.ReportAllocs()
	for b.Loop() {
		KafkaPartition(key, 12)
	}
}
