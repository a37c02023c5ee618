module moemamba.dev/samples/step_overhead

go 1.19

require moemamba.dev/moemamba v0.0.0

replace moemamba.dev/moemamba => ../../../bindings/go
