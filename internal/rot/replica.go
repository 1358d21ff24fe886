package rot

import "context"

// knowWorkloadLocked makes sure the view holds workload name when the store does: when the
// view lacks it, the state is reloaded once. Another replica may have created the workload a
// moment ago, before this replica's watch caught up; without the reload, `sealctl workload
// create` then `sealctl egg mint` through a Service in front of two replicas would get a 404
// at random. A failed reload is logged and the view stays as it was (the caller answers 404).
// Only admin requests come here, so a reload per unknown name costs nothing a client can abuse.
func (s *Server) knowWorkloadLocked(ctx context.Context, name string) {
	if _, ok := s.v.Load().workloads[name]; ok {
		return
	}
	if err := s.reloadLocked(ctx); err != nil {
		s.log.Warn("reloading the state for a workload this replica does not know failed", "workload", name, "err", err)
	}
}

// lookupWorkload is knowWorkloadLocked for handlers that read without the lock.
func (s *Server) lookupWorkload(ctx context.Context, name string) (*workloadView, bool) {
	if wv, ok := s.v.Load().workloads[name]; ok {
		return wv, true
	}
	s.mu.Lock()
	s.knowWorkloadLocked(ctx, name)
	s.mu.Unlock()
	wv, ok := s.v.Load().workloads[name]
	return wv, ok
}
