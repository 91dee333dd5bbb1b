package latchkey

import (
	"fmt"
	"testing"
)

func TestCleanNoticeDays(t *testing.T) {
	tests := []struct {
		in      []int
		want    string
		wantErr bool
	}{
		{[]int{1, 7, 30}, "[30 7 1]", false},
		{[]int{7, 7, 1}, "[7 1]", false},
		{[]int{365}, "[365]", false},
		{[]int{1, 2, 3, 4, 5}, "[5 4 3 2 1]", false},
		{nil, "", true},
		{[]int{1, 2, 3, 4, 5, 6}, "", true},
		{[]int{0}, "", true},
		{[]int{366}, "", true},
		{[]int{-1, 7}, "", true},
	}
	for _, tt := range tests {
		got, err := CleanNoticeDays(tt.in)
		if tt.wantErr {
			if ErrorCodeOf(err) != EInvalid {
				t.Errorf("CleanNoticeDays(%v) = %v, %v; want an invalid error", tt.in, got, err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != tt.want {
			t.Errorf("CleanNoticeDays(%v) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
