module github.com/effeeea0/nodeipc

go 1.25.0

require (
	github.com/Microsoft/go-winio v0.6.2
	github.com/spf13/cobra v1.10.2
	golang.org/x/sys v0.40.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
