package feed

import "testing"

func TestFilter(t *testing.T) {
	tests := []struct {
		in      string
		typ     string
		want    bool
		wantErr bool
	}{
		{"", UserCreated, true, false},
		{"*", GroupDeleted, true, false},
		{"user.*", UserDeleted, true, false},
		{"user.*", GroupCreated, false, false},
		{"user.*, group.members_changed", GroupMembersChanged, true, false},
		{"group.created", GroupUpdated, false, false},
		{"user.craeted", "", false, true},
		{"users.*", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.typ, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFilter(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := f.Match(tt.typ); got != tt.want {
				t.Errorf("ParseFilter(%q).Match(%q) = %v, want %v", tt.in, tt.typ, got, tt.want)
			}
		})
	}
}
