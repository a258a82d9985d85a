"""Episodes to and from other tools' formats, one module per format. Each module imports its optional
package lazily (the `recorder` package stays importable without it), reads episode files only through
`recorder.reader` / `recorder.isolated` and writes them only through `recorder.writer`."""
