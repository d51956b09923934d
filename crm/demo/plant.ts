/**
 * The entity-resolution test cases planted in every demo CRM: rows that are
 * the same entity written differently (duplicates) and rows that look alike
 * but are different entities (lookalikes). The generator places them at
 * seed-chosen ids and reports them in the facts file by record key.
 */

export interface PlantedOrg {
  slot: string;
  name: string;
  domain: string | null;
  website: string | null;
  kind: string | null;
  sector: string | null;
  location: string | null;
  description: string | null;
}

export interface PlantedPerson {
  slot: string;
  full_name: string;
  email: string | null;
  email_secondary: string | null;
  phone: string | null;
  title: string | null;
  /** Slot of a planted organization, or null for no organization. */
  org: string | null;
  linkedin: string | null;
}

export const PLANTED_ORGS: readonly PlantedOrg[] = [
  {
    slot: 'acme',
    name: 'Acme, Inc.',
    domain: 'acme.com',
    website: 'https://acme.com',
    kind: 'portfolio',
    sector: 'bitcoin infrastructure',
    location: 'Austin, TX',
    description:
      'Acme builds custody and payments infrastructure for companies that hold bitcoin on the balance sheet.',
  },
  {
    slot: 'acme-caps',
    name: 'ACME Inc',
    domain: null,
    website: null,
    kind: 'portfolio',
    sector: 'Bitcoin Infrastructure',
    location: 'Austin',
    description: '',
  },
  {
    slot: 'acme-domain',
    name: 'acme.com',
    domain: 'acme.com',
    website: 'https://www.acme.com',
    kind: null,
    sector: null,
    location: null,
    description: null,
  },
  {
    slot: 'foo',
    name: 'The Foo Group LLC',
    domain: 'foogroup.com',
    website: 'https://foogroup.com',
    kind: 'co-investor',
    sector: 'fintech',
    location: 'New York, NY',
    description: 'Multi-stage fund investing in fintech and payments companies.',
  },
  {
    slot: 'foo-short',
    name: 'Foo Group',
    domain: null,
    website: 'http://www.foogroup.com/',
    kind: 'co-investor',
    sector: 'Fintech',
    location: 'NYC',
    description: null,
  },
  {
    slot: 'acme-robotics',
    name: 'Acme Robotics GmbH',
    domain: 'acmerobotics.de',
    website: 'https://acmerobotics.de',
    kind: 'prospect',
    sector: 'hardware',
    location: 'München',
    description: 'Warehouse robotics for European logistics companies.',
  },
];

export const PLANTED_PEOPLE: readonly PlantedPerson[] = [
  // Same person, work and personal address, two rows.
  {
    slot: 'ingrid-work',
    full_name: 'Ingrid Okonkwo',
    email: 'ingrid@foogroup.com',
    email_secondary: null,
    phone: '+1 212 555 0142',
    title: 'Managing Partner',
    org: 'foo',
    linkedin: 'ingrid-okonkwo',
  },
  {
    slot: 'ingrid-personal',
    full_name: 'Ingrid Okonkwo',
    email: 'ingrid.okonkwo@gmail.com',
    email_secondary: null,
    phone: '+1 (212) 555-0142',
    title: null,
    org: null,
    linkedin: null,
  },
  // Plus-addressing on the same mailbox.
  {
    slot: 'jane',
    full_name: 'Jane Whitcombe',
    email: 'jane@acme.com',
    email_secondary: null,
    phone: null,
    title: 'Head of Treasury',
    org: 'acme',
    linkedin: 'janewhitcombe',
  },
  {
    slot: 'jane-plus',
    full_name: 'Jane Whitcombe',
    email: 'jane+crm@acme.com',
    email_secondary: '',
    phone: '',
    title: '',
    org: 'acme-caps',
    linkedin: null,
  },
  // Diacritics and letter case differ; the address is the same.
  {
    slot: 'jose',
    full_name: 'José Müller',
    email: 'jose.muller@acmerobotics.de',
    email_secondary: null,
    phone: '+49 89 5550 1234',
    title: 'CTO',
    org: 'acme-robotics',
    linkedin: 'jose-muller-robotics',
  },
  {
    slot: 'jose-ascii',
    full_name: 'Jose Muller',
    email: 'JOSE.MULLER@ACMEROBOTICS.DE',
    email_secondary: null,
    phone: null,
    title: null,
    org: null,
    linkedin: null,
  },
  // Lookalikes: same name, different organizations and addresses.
  {
    slot: 'john-acme',
    full_name: 'John Smith',
    email: 'john.smith@acme.com',
    email_secondary: null,
    phone: '+1 512 555 0199',
    title: 'VP Engineering',
    org: 'acme',
    linkedin: 'johnsmith-acme',
  },
  {
    slot: 'john-foo',
    full_name: 'John Smith',
    email: 'jsmith@foogroup.com',
    email_secondary: null,
    phone: '+1 646 555 0107',
    title: 'Associate',
    org: 'foo',
    linkedin: 'john-smith-nyc',
  },
  // Lookalikes: different people who share only the gmail.com domain.
  {
    slot: 'zoe',
    full_name: 'Zoë Ångström',
    email: 'zoe.angstrom@gmail.com',
    email_secondary: null,
    phone: '+46 8 555 012 34',
    title: 'Angel investor',
    org: null,
    linkedin: 'zoeangstrom',
  },
  {
    slot: 'lars',
    full_name: 'Lars Pettersen',
    email: 'lars.pettersen@gmail.com',
    email_secondary: null,
    phone: null,
    title: 'Advisor',
    org: null,
    linkedin: null,
  },
];

export const DUPLICATE_ORGS: readonly (readonly string[])[] = [
  ['acme', 'acme-caps', 'acme-domain'],
  ['foo', 'foo-short'],
];
export const DUPLICATE_PEOPLE: readonly (readonly string[])[] = [
  ['ingrid-work', 'ingrid-personal'],
  ['jane', 'jane-plus'],
  ['jose', 'jose-ascii'],
];
/** [table, slot, slot]: pairs that must stay separate. */
export const DISTINCT: readonly (readonly [string, string, string])[] = [
  ['people', 'john-acme', 'john-foo'],
  ['people', 'zoe', 'lars'],
  ['organizations', 'acme', 'acme-robotics'],
];

/** Lowercase, no diacritics, single spaces: how a random name is checked against the planted ones. */
export function nameKey(name: string): string {
  return name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

export const RESERVED_PERSON_NAMES: ReadonlySet<string> = new Set(
  PLANTED_PEOPLE.map((p) => nameKey(p.full_name)),
);
export const RESERVED_EMAILS: ReadonlySet<string> = new Set(
  PLANTED_PEOPLE.flatMap((p) => (p.email ? [p.email.toLowerCase()] : [])),
);
export const RESERVED_DOMAINS: ReadonlySet<string> = new Set(['acme.com', 'foogroup.com', 'acmerobotics.de']);
