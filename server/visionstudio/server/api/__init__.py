"""The two surfaces over the job core: request mapping, authentication, errors -> statuses."""
