package syncproto

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// The CBOR modes are built once, here. Canonical encoding (RFC 8949 core
// deterministic) is used for everything that is signed or hashed. Strict,
// size-capped decoding is used for everything that comes from outside.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeUnix
	em, err := eo.EncMode()
	if err != nil {
		panic("bug: cbor enc mode: " + err.Error())
	}
	encMode = em

	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxItems,
		MaxMapPairs:       MaxItems,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		IntDec:            cbor.IntDecConvertNone,
		DefaultMapType:    nil,
	}.DecMode()
	if err != nil {
		panic("bug: cbor dec mode: " + err.Error())
	}
	decMode = dm
}

// Marshal encodes v canonically.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// ErrMalformed means bytes from outside did not decode as what they claim to
// be, or were not in canonical form.
var ErrMalformed = errors.New("malformed data")

// UnmarshalStrict decodes data from outside into v with the strict mode, and
// requires data to be exactly the canonical encoding of the result.
func UnmarshalStrict(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again, data) {
		return fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return nil
}

// EncodeValue encodes a field value canonically. Values are text, byte
// strings, booleans, integers, nil, and arrays or string-keyed maps of those.
// Floats are refused: nothing signed may hold one.
func EncodeValue(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := CheckValue(b); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeValue decodes a value made by EncodeValue.
func DecodeValue(b []byte) (any, error) {
	var v any
	if err := decMode.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: value: %v", ErrMalformed, err)
	}
	return v, nil
}

// CheckValue checks that b is one canonical CBOR value within the limits and
// holding no floats.
func CheckValue(b []byte) error {
	if len(b) > MaxValueLen {
		return fmt.Errorf("%w: value is %d bytes (limit %d)", ErrTooLong, len(b), MaxValueLen)
	}
	var v any
	if err := UnmarshalStrict(b, &v); err != nil {
		return err
	}
	return checkNoFloat(v)
}

func checkNoFloat(v any) error {
	switch x := v.(type) {
	case float32, float64:
		return fmt.Errorf("%w: floats are not allowed in values", ErrMalformed)
	case []any:
		for _, e := range x {
			if err := checkNoFloat(e); err != nil {
				return err
			}
		}
	case map[any]any:
		for k, e := range x {
			if err := checkNoFloat(k); err != nil {
				return err
			}
			if err := checkNoFloat(e); err != nil {
				return err
			}
		}
	}
	return nil
}
