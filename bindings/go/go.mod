module moemamba.dev/moemamba

go 1.19
