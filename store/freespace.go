package store

// FreeSpace is the free space on the disk that holds the store, in bytes,
// where the system tells (ErrFreeSpaceUnknown where it does not).
func (s *Store) FreeSpace() (uint64, error) {
	if s.opts.FreeSpace != nil {
		return s.opts.FreeSpace(s.dir)
	}
	return diskFree(s.dir)
}

// MinFree is the free space below which the store refuses writes.
func (s *Store) MinFree() uint64 { return s.opts.minFree() }
