package metrics

import (
	"os"
	"strconv"
)

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
