// Command cluster needs Unix: Windows cannot hand a listening socket or pipe
// to worker processes, and has no SO_REUSEPORT.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cluster: worker processes sharing one endpoint need Linux, macOS or another Unix")
	os.Exit(2)
}
