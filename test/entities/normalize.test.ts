import { describe, expect, it } from 'vitest';
import {
  emailOrgDomain,
  isWebmailDomain,
  normalizeDomain,
  normalizeEmail,
  normalizeOrgName,
  normalizePersonName,
  normalizePhone,
} from '../../entities/normalize.js';
import { compareRecordKeys, entityIdFor } from '../../entities/rules.js';

describe('normalization', () => {
  it('reduces organization names to the same key across case, punctuation, legal suffixes and "The"', () => {
    expect(normalizeOrgName('Acme, Inc.')).toBe('acme');
    expect(normalizeOrgName('ACME Inc')).toBe('acme');
    expect(normalizeOrgName('The Foo Group LLC')).toBe('foo group');
    expect(normalizeOrgName('Foo Group')).toBe('foo group');
    expect(normalizeOrgName('Müller GmbH & Co. KG')).toBe('muller gmbh co kg');
    expect(normalizeOrgName('Acme Robotics GmbH')).toBe('acme robotics');
    expect(normalizeOrgName('S.A.')).toBeNull();
    expect(normalizeOrgName('')).toBeNull();
  });

  it('keeps people names in order and strips diacritics', () => {
    expect(normalizePersonName('José  Müller')).toBe('jose muller');
    expect(normalizePersonName('Zoë Ångström')).toBe('zoe angstrom');
    expect(normalizePersonName('   ')).toBeNull();
  });

  it('normalizes emails: case, plus-addressing, gmail dots and googlemail', () => {
    expect(normalizeEmail('Jane+CRM@Acme.com')).toBe('jane@acme.com');
    expect(normalizeEmail('ingrid.okonkwo@googlemail.com')).toBe('ingridokonkwo@gmail.com');
    expect(normalizeEmail('first.last@acme.com')).toBe('first.last@acme.com');
    expect(normalizeEmail('not an email')).toBeNull();
    expect(normalizeEmail('')).toBeNull();
  });

  it('takes domains from websites and refuses webmail as an organization domain', () => {
    expect(normalizeDomain('https://www.Acme.com/about?x=1')).toBe('acme.com');
    expect(normalizeDomain('http://foogroup.com:8080/')).toBe('foogroup.com');
    expect(normalizeDomain('localhost')).toBeNull();
    for (const d of [
      'gmail.com',
      'yahoo.co.uk',
      'hotmail.fr',
      'gmx.de',
      'outlook.com',
      'icloud.com',
      'proton.me',
    ]) {
      expect(isWebmailDomain(d)).toBe(true);
    }
    expect(isWebmailDomain('acme.com')).toBe(false);
    expect(emailOrgDomain('x@gmail.com')).toBeNull();
    expect(emailOrgDomain('x@acme.com')).toBe('acme.com');
  });

  it('reduces phone numbers to digits and ignores short ones', () => {
    expect(normalizePhone('+1 (212) 555-0142')).toBe(normalizePhone('+1 212 555 0142'));
    expect(normalizePhone('12-34')).toBeNull();
  });

  it('orders record keys by table, then integer pks numerically', () => {
    const keys = ['people:10', 'organizations:2', 'people:9', 'people:abc', 'organizations:10'];
    expect([...keys].sort(compareRecordKeys)).toEqual([
      'organizations:2',
      'organizations:10',
      'people:9',
      'people:10',
      'people:abc',
    ]);
    expect(entityIdFor('organization', 'organizations:12')).toBe('org:12');
    expect(entityIdFor('person', 'people:7')).toBe('person:7');
  });
});
