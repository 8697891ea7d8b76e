"""Model backends behind one interface (:mod:`.base`)."""
