"""Quality: inspection plans, SPC, capability, holds, non-conformances and lot genealogy."""
