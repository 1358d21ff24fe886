package workloadapi

import "context"

// stream sends the current identity, then each new one, until ctx ends.
func (s *Server) stream(ctx context.Context, send func(*X509Identity) error) error {
	var sent uint64
	for {
		id, gen, changed := s.snapshot()
		if id != nil && gen != sent {
			if err := send(id); err != nil {
				return err
			}
			sent = gen
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
