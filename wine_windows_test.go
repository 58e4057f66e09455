package nodeipc_test

import "github.com/effeeea0/nodeipc/internal/winpipe"

func underWine() bool { return winpipe.UnderWine() }
