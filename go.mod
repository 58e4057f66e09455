module github.com/effeeea0/nodeipc

go 1.25
