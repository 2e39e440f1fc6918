import { describe, expect, it } from 'vitest';
import { colourWanted, palette } from '../../tui/colours.js';
import { incidentModel } from './fixture.js';

describe('colours', () => {
  it('gives every host of the lab its own colour', () => {
    const lab = incidentModel().lab!;
    const colourOf = palette(lab);
    const names = [...Object.keys(lab.hosts), ...lab.pods.map((p) => p.name)];
    const colours = names.map(colourOf);
    expect(colours.every(Boolean)).toBe(true);
    expect(new Set(colours).size).toBe(names.length);
    expect(colourOf('node1')).toBe('green');
  });

  it('turns colour off for NO_COLOR and for terminals with fewer than 8 colours', () => {
    expect(colourWanted({}, 256)).toBe(true);
    expect(colourWanted({ NO_COLOR: '1' }, 256)).toBe(false);
    expect(colourWanted({ NO_COLOR: '' }, 256)).toBe(true);
    expect(colourWanted({}, -1)).toBe(false);
    expect(colourWanted({}, undefined)).toBe(false);
  });
});
