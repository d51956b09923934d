/**
 * `jobs.json` in the `startos` volume: the latest index job request. The
 * Build and Refresh actions write it; main reads it with `.const`, so a new
 * request adds the job's oneshot without restarting the other daemons
 * (`Daemons.dynamic` leaves unchanged entries alone).
 */
import { FileHelper, z } from '@start9labs/start-sdk';
import { sdk } from './sdk.js';

export const jobRequestShape = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  kind: z.enum(['rebuild', 'refresh']),
  at: z.string(),
});

export const jobsJson = FileHelper.json(
  { base: sdk.volumes.startos, subpath: 'jobs.json' },
  z.object({ request: jobRequestShape.nullable().catch(null) }),
);
