package schema

import (
	"strings"
	"testing"
)

func TestControlChar(t *testing.T) {
	tests := []struct {
		s     string
		multi bool
		at    int
	}{
		{"plain text", false, -1},
		{"Zoë Åström 山田", false, -1},
		{"a\x00b", false, 1},
		{"a\tb", false, 1},
		{"a\tb\r\nc", true, -1},
		{"a\x1bb", true, 1},
		{"a\x7f", false, 1},
		{"a\u0085b", false, 1},  // C1 NEL
		{"a\u00a0b", false, -1}, // no-break space is not a control character
		{"\u2028", false, -1},   // nor is the line separator
		{"é\u009f", false, 2},
	}
	for _, tt := range tests {
		if got, _ := ControlChar(tt.s, tt.multi); got != tt.at {
			t.Errorf("ControlChar(%q, %v): got %d, want %d", tt.s, tt.multi, got, tt.at)
		}
	}
}

func TestCheckStringLength(t *testing.T) {
	a := User.Attr("userName")
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"at the limit", strings.Repeat("a", MaxStringLength), true},
		{"one over", strings.Repeat("a", MaxStringLength+1), false},
		{"at the limit in three-byte characters", strings.Repeat("山", MaxStringLength), true},
		{"one over in three-byte characters", strings.Repeat("山", MaxStringLength+1), false},
	}
	for _, tt := range tests {
		if err := checkString(a, tt.s, "userName"); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	street := User.Attr("addresses").Sub("streetAddress")
	if err := checkString(street, strings.Repeat("a", MaxMultiLineLength)+"", "streetAddress"); err != nil {
		t.Errorf("multi-line attribute at its limit: %v", err)
	}
	if err := checkString(User.Attr("photos").Sub("value"), "https://x/"+strings.Repeat("p", MaxReferenceLength), "photos.value"); err == nil {
		t.Error("a reference over its limit is accepted")
	}
}

func TestParseDeclared(t *testing.T) {
	good := "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode"
	d, err := ParseDeclared(good, "Integer", true)
	if err != nil || d.Schema != "urn:ietf:params:scim:schemas:extension:Contoso:2.0:User" || d.Name != "costCode" || d.Type != Integer || !d.MultiValued {
		t.Fatalf("ParseDeclared(%s): got %+v, %v", good, d, err)
	}
	rt := UserType.WithDeclared([]Declared{d})
	if rt == UserType || len(UserType.Extensions) != 1 {
		t.Fatal("WithDeclared changed the built-in User type")
	}
	if _, a := rt.Resolve(d.Schema, "COSTCODE"); a == nil || a.Type != Integer {
		t.Errorf("declared attribute not resolved: %+v", a)
	}
	if GroupType.WithDeclared([]Declared{d}) != GroupType {
		t.Error("a User extension extended the Group type")
	}
	for _, bad := range [][2]string{
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:x", "string"},
		{"urn:ietf:params:scim:schemas:extension:Contoso:1.0:User:x", "string"},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:Device:x", "string"},
		{"urn:ietf:params:scim:schemas:extension:Con toso:2.0:User:x", "string"},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:x.y", "string"},
		{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:x", "binary"},
		{"costCode", "string"},
	} {
		if _, err := ParseDeclared(bad[0], bad[1], false); err == nil {
			t.Errorf("ParseDeclared(%s, %s): accepted", bad[0], bad[1])
		}
	}
}
