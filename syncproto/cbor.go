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
	// decMode decodes values: MaxNesting levels inside a value.
	decMode cbor.DecMode
	// entryDecMode decodes whole entries, whose map is one level more.
	entryDecMode cbor.DecMode
	probeDecMode cbor.DecMode
	localDecMode cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeUnix
	em, err := eo.EncMode()
	if err != nil {
		panic("bug: cbor enc mode: " + err.Error())
	}
	encMode = em

	decOpts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxItems,
		MaxMapPairs:       MaxItems,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		IntDec:            cbor.IntDecConvertNone,
	}
	if decMode, err = decOpts.DecMode(); err != nil {
		panic("bug: cbor dec mode: " + err.Error())
	}
	decOpts.MaxNestedLevels = MaxNesting + 1
	if entryDecMode, err = decOpts.DecMode(); err != nil {
		panic("bug: cbor dec mode: " + err.Error())
	}
	// localDecMode reads what this node wrote itself (its own meta rows,
	// already authenticated by the store): strict, with room for long
	// lists.
	local := decOpts
	local.MaxArrayElements, local.MaxMapPairs = 1<<24, 1<<24
	if localDecMode, err = local.DecMode(); err != nil {
		panic("bug: cbor dec mode: " + err.Error())
	}
	// probeDecMode reads what it knows of a message from a newer version
	// and ignores the rest; it is only used to say "upgrade".
	decOpts.ExtraReturnErrors = cbor.ExtraDecErrorNone
	if probeDecMode, err = decOpts.DecMode(); err != nil {
		panic("bug: cbor dec mode: " + err.Error())
	}
}

// UnmarshalProbe decodes what it knows of data from a newer floe and
// ignores keys it does not know, with the other rules of UnmarshalStrict.
// It is only for telling a person to upgrade (say, reading the version of
// a header that strict decoding refused): never act on what it decodes.
func UnmarshalProbe(data []byte, v any) error {
	if err := probeDecMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Marshal encodes v canonically.
func Marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

// ErrMalformed means bytes from outside did not decode as what they claim to
// be, or were not in canonical form.
var ErrMalformed = errors.New("malformed data")

// UnmarshalStrict decodes data from outside into v with the strict mode, and
// requires data to be exactly the canonical encoding of the result.
func UnmarshalStrict(data []byte, v any) error { return unmarshalStrict(decMode, data, v) }

// UnmarshalLocal is UnmarshalStrict for data this node wrote itself and
// the store has authenticated (a meta row): the same rules, with lists
// and maps of up to 16 million items. Never use it on outside input.
func UnmarshalLocal(data []byte, v any) error { return unmarshalStrict(localDecMode, data, v) }

func unmarshalStrict(dm cbor.DecMode, data []byte, v any) error {
	if err := dm.Unmarshal(data, v); err != nil {
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
// strings, booleans, integers of at most 64 bits, nil, and arrays or
// text-keyed maps of those. Floats, simple values and other map keys are
// refused: nothing signed may hold a float, and readers handle only these.
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
// within the value model of EncodeValue.
func CheckValue(b []byte) error {
	if len(b) > MaxValueLen {
		return fmt.Errorf("%w: value is %d bytes (limit %d)", ErrTooLong, len(b), MaxValueLen)
	}
	var v any
	if err := UnmarshalStrict(b, &v); err != nil {
		return err
	}
	return checkModel(v)
}

func checkModel(v any) error {
	switch x := v.(type) {
	case nil, bool, string, []byte, uint64, int64:
		return nil
	case []any:
		for _, e := range x {
			if err := checkModel(e); err != nil {
				return err
			}
		}
		return nil
	case map[any]any:
		for k, e := range x {
			if _, ok := k.(string); !ok {
				return fmt.Errorf("%w: map keys in values must be text", ErrMalformed)
			}
			if err := checkModel(e); err != nil {
				return err
			}
		}
		return nil
	case float32, float64:
		return fmt.Errorf("%w: floats are not allowed in values", ErrMalformed)
	}
	return fmt.Errorf("%w: values may not hold %T", ErrMalformed, v)
}
