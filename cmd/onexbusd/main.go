// Command onexbusd is the onexbus broker daemon. Run `onexbusd serve` to
// start it on the embedded default (bbolt in ./onexbus-data, every
// listener on 127.0.0.1) and `onexbusd --help` for the rest; the wiring
// lives in internal/daemon and the commands in internal/cli.
package main

import (
	"os"

	"github.com/onexbus/onexbus/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Env{
		Args:      os.Args[1:],
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Exit:      os.Exit,
	}))
}
