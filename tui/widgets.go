package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/rosterhq/roster/tui/styles"
)

// choice is one entry of a menu.
type choice struct {
	id, label, detail string
}

// menu is a vertical list of choices with a cursor.
type menu struct {
	items  []choice
	cursor int
}

func (m *menu) update(msg tea.Msg) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return
	}
	switch {
	case key.Matches(k, keys.Up):
		if m.cursor > 0 {
			m.cursor--
		}
	case key.Matches(k, keys.Down):
		if m.cursor < len(m.items)-1 {
			m.cursor++
		}
	}
}

func (m *menu) selected() choice { return m.items[m.cursor] }

func (m *menu) selectID(id string) {
	for i, c := range m.items {
		if c.id == id {
			m.cursor = i
		}
	}
}

func (m *menu) view() string {
	var b strings.Builder
	for i, c := range m.items {
		if i == m.cursor {
			b.WriteString(styles.Selected.Render("› " + c.label))
		} else {
			b.WriteString("  " + c.label)
		}
		if c.detail != "" {
			b.WriteString("\n    " + styles.Muted.Render(c.detail))
		}
		if i < len(m.items)-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// newInput returns a focused text input with a steady cursor (no blinking:
// screens stay still for tests and screen readers).
func newInput(placeholder, value string) textinput.Model {
	ti := textinput.New()
	ti.Placeholder = placeholder
	ti.SetValue(value)
	ti.Prompt = "> "
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.Width = 60
	ti.Focus()
	return ti
}

// field is a labelled text input of a form.
type field struct {
	label string
	input textinput.Model
	check func(string) string // returns a problem, or ""
	set   func(a *Answers, v string)
	// auto is the default that follows from the answers above (nil: none,
	// or edited); autoValue is the value it last gave.
	auto      func(a *Answers) string
	autoValue string
}

// form is a few labelled inputs; enter moves on and submits on the last.
type form struct {
	fields  []field
	focus   int
	problem string
}

func (f *form) setFocus(i int) {
	f.fields[f.focus].input.Blur()
	f.focus = i
	f.fields[i].input.Focus()
}

// update returns true when the form was submitted and every field is valid.
func (f *form) update(msg tea.Msg) (tea.Cmd, bool) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.String() {
		case "up":
			if f.focus > 0 {
				f.setFocus(f.focus - 1)
			}
			return nil, false
		case "down", "tab":
			if f.focus < len(f.fields)-1 {
				f.setFocus(f.focus + 1)
			}
			return nil, false
		case "enter":
			if f.focus < len(f.fields)-1 {
				f.setFocus(f.focus + 1)
				return nil, false
			}
			f.problem = ""
			for i, fl := range f.fields {
				if fl.check == nil {
					continue
				}
				if p := fl.check(strings.TrimSpace(fl.input.Value())); p != "" {
					f.problem = fl.label + ": " + sentence(p)
					f.setFocus(i)
					return nil, false
				}
			}
			return nil, true
		}
	}
	var cmd tea.Cmd
	f.fields[f.focus].input, cmd = f.fields[f.focus].input.Update(msg)
	return cmd, false
}

func (f *form) value(i int) string { return strings.TrimSpace(f.fields[i].input.Value()) }

func (f *form) view() string {
	var b strings.Builder
	for i, fl := range f.fields {
		b.WriteString(styles.Label.Render(fl.label) + "\n" + fl.input.View())
		if i < len(f.fields)-1 {
			b.WriteString("\n")
		}
	}
	if f.problem != "" {
		b.WriteString("\n" + styles.Bad.Render("✗ "+f.problem))
	}
	return b.String()
}
