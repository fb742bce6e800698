// Package kbatch reads, validates, walks, compresses and builds Kafka v2
// record batches (magic 2), the storage unit of the onexbus log and the
// record set of the Kafka wire protocol.
//
// # Model
//
// A batch is a 61-byte header followed by a record section that is either
// raw records or one compressed block of them. Header layout (big endian):
//
//	 0  BaseOffset            int64
//	 8  Length                int32   bytes after this field
//	12  PartitionLeaderEpoch  int32
//	16  Magic                 int8    always 2
//	17  CRC                   uint32  CRC-32C of bytes [21:end]
//	21  Attributes            int16   codec, timestamp type, transactional, control
//	23  LastOffsetDelta       int32
//	27  FirstTimestamp        int64   ms
//	35  MaxTimestamp          int64   ms
//	43  ProducerID            int64
//	51  ProducerEpoch         int16
//	53  BaseSequence          int32
//	57  NumRecords            int32
//	61  records
//
// BaseOffset and PartitionLeaderEpoch lie outside the CRC, so a broker
// rewrites them in place (SetBaseOffset, SetLeaderEpoch) without
// recomputing it.
//
// # Use
//
// A broker calls Validate on each produce batch, then SetBaseOffset and
// SetLeaderEpoch on its stored copy; a reader splits record sets with
// BatchLen, checks CheckCRC, decompresses with Decompress (or
// DecompressLimit) and walks records with ForEachRecord, or one at a time
// with ReadRecord, or ReadRecordRaw and NextHeader to read headers without
// building a slice. A producer that is not a Kafka client (the bus) builds
// batches with Builder, writing headers straight from its own fields.
//
// # Guarantees
//
// ParseHeader, BatchLen, CheckCRC, SetBaseOffset, SetLeaderEpoch, Validate
// on an uncompressed batch, ReadRecordRaw, NextHeader, a reused Builder and
// ForEachRecord (in the steady state) never allocate (the AllocsPerRun
// tests and the benchmarks show it). Every function
// returns an error wrapping one of the sentinels in errors.go for bad input;
// none panics, whatever the bytes (the fuzz targets beside the code check
// this). Records and headers passed to ForEachRecord alias the input.
//
// Decompression is bounded by a caller-given limit, so a small compressed
// batch that expands without bound (a zip bomb) is an error, not an
// out-of-memory. The codecs are github.com/klauspost/compress (gzip, snappy,
// zstd) and github.com/pierrec/lz4/v4, the ones franz-go uses.
//
// # Caveats
//
// Only magic 2 is supported; v0/v1 message sets are refused by ParseHeader.
// The package imports nothing of onexbus, so it can be fuzzed alone.
package kbatch
