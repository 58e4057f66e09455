package nodeipc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Log writes one line built from args as node-ipc's log does: nothing when
// Silent; strings as they are, other values rendered like util.inspect to
// LogDepth levels (in colour with LogInColor), joined by spaces, handed to
// Logger in one call. With no Logger the line goes to Slog (or slog's
// default) at Info level.
func (c *Config) Log(args ...any) {
	if c.Silent {
		return
	}
	line := c.render(args)
	if c.Logger != nil {
		c.Logger(line)
		return
	}
	c.slog().Info(line)
}

// log is the library's own lifecycle logging: like Log, but without a
// Logger it goes to Slog at Debug level, so a Go program stays quiet unless
// it asks.
func (c *Config) log(args ...any) {
	if c.Silent {
		return
	}
	if c.Logger != nil {
		c.Logger(c.render(args))
		return
	}
	l := c.slog()
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.Debug(c.render(args))
}

func (c *Config) render(args []any) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := a.(type) {
		case string:
			b.WriteString(v)
		case error:
			b.WriteString(v.Error())
		case fmt.Stringer:
			b.WriteString(v.String())
		default:
			inspect(&b, reflect.ValueOf(a), c.LogDepth, c.LogInColor)
		}
	}
	return b.String()
}

const (
	colorReset   = "\x1b[39m"
	colorYellow  = "\x1b[33m"
	colorGreen   = "\x1b[32m"
	colorBold    = "\x1b[1m"
	colorBoldOff = "\x1b[22m"
)

// inspect renders v the way Node's util.inspect does, to depth levels.
func inspect(b *strings.Builder, v reflect.Value, depth int, color bool) {
	paint := func(s, c string) {
		if color {
			b.WriteString(c + s + colorReset)
		} else {
			b.WriteString(s)
		}
	}
	if !v.IsValid() {
		if color {
			b.WriteString(colorBold + "null" + colorBoldOff)
		} else {
			b.WriteString("null")
		}
		return
	}
	if raw, ok := v.Interface().(json.RawMessage); ok {
		var x any
		if json.Unmarshal(raw, &x) == nil {
			inspect(b, reflect.ValueOf(x), depth, color)
			return
		}
		b.Write(raw)
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			inspect(b, reflect.Value{}, depth, color)
			return
		}
		inspect(b, v.Elem(), depth, color)
	case reflect.String:
		paint("'"+strings.ReplaceAll(v.String(), "'", `\'`)+"'", colorGreen)
	case reflect.Bool:
		paint(strconv.FormatBool(v.Bool()), colorYellow)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		paint(strconv.FormatInt(v.Int(), 10), colorYellow)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		paint(strconv.FormatUint(v.Uint(), 10), colorYellow)
	case reflect.Float32, reflect.Float64:
		paint(string(wire.AppendFloat(nil, v.Float(), v.Type().Bits(), false)), colorYellow)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			inspect(b, reflect.Value{}, depth, color)
			return
		}
		if depth < 0 {
			paint("[Array]", "\x1b[36m")
			return
		}
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(" ")
			inspect(b, v.Index(i), depth-1, color)
		}
		b.WriteString(" ]")
	case reflect.Map:
		if depth < 0 {
			paint("[Object]", "\x1b[36m")
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(" " + fmt.Sprint(k) + ": ")
			inspect(b, v.MapIndex(k), depth-1, color)
		}
		b.WriteString(" }")
	case reflect.Struct:
		if depth < 0 {
			paint("[Object]", "\x1b[36m")
			return
		}
		t := v.Type()
		b.WriteString("{")
		n := 0
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			if n > 0 {
				b.WriteString(",")
			}
			n++
			b.WriteString(" " + t.Field(i).Name + ": ")
			inspect(b, v.Field(i), depth-1, color)
		}
		b.WriteString(" }")
	default:
		fmt.Fprint(b, v.Interface())
	}
}
