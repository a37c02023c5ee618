module moemamba.dev/samples/go_stream

go 1.19

require moemamba.dev/moemamba v0.0.0

replace moemamba.dev/moemamba => ../../bindings/go
