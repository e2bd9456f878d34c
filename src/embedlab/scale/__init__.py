"""Scale-out: encoding more than one process holds, in resumable chunks, on local processes or a Ray cluster."""
