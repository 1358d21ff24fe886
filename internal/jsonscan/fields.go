package jsonscan

// Fields reads an object's members, calling each with every member's name; each must consume
// the member's value (read it or Skip it). null is an empty object, as encoding/json reads it
// into a struct.
func (d *Decoder) Fields(each func(name []byte) error) error {
	if null, err := d.Null(); null || err != nil {
		return err
	}
	if err := d.Object(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		k, ok, err := d.Key(n)
		if err != nil || !ok {
			return err
		}
		if err := each(k); err != nil {
			return err
		}
	}
}

// StringInto reads a string into s; null leaves s as it was, as encoding/json does.
func StringInto[S ~string](d *Decoder, s *S) error {
	if null, err := d.Null(); null || err != nil {
		return err
	}
	v, err := d.String()
	*s = S(v)
	return err
}
