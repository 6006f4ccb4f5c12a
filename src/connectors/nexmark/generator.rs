//! The Nexmark event model: which event number is a person, an auction or a
//! bid, and each event's fields, written straight into Arrow arrays.
//!
//! It follows the reference generator (Apache Beam's and Flink's Nexmark):
//! out of every 50 events 1 is a new person, 3 are new auctions and 46 are
//! bids (2% / 6% / 92%); ids start at 1000; bids go to recent auctions, half
//! of them to "hot" ones, and come from recent people, three in four from hot
//! bidders; prices are `round(10^(6·u) · 100)`; `extra` pads each event to
//! the reference average size (person 200, auction 500, bid 100 bytes).
//! Event `n` happens `n · inter_event_micros` after the base time, so the
//! events are in time order.
//!
//! Every event draws its random numbers from its own generator, seeded by
//! the seed and the event number (as the reference does with `new
//! Random(eventId)`): any event can be made on its own, a table of bids
//! needs no persons or auctions generated, and skipping a column changes no
//! other value. The generator is SplitMix64, written out here so that the
//! data is the same on every platform and with every dependency version.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The three Nexmark tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NexmarkTable {
    /// New people (sellers and bidders).
    Person,
    /// New auctions.
    Auction,
    /// Bids on auctions.
    Bid,
}

const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const PROPORTION_DENOMINATOR: u64 = 50;
const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
const NUM_ACTIVE_PEOPLE: u64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: u64 = 100;
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_BIDDER_RATIO: u64 = 4;
const HOT_SELLER_RATIO: u64 = 4;
const HOT_CHANNEL_RATIO: u64 = 2;
const CHANNELS: u64 = 10_000;
const AVERAGE_PERSON_BYTES: usize = 200;
const AVERAGE_AUCTION_BYTES: usize = 500;
const AVERAGE_BID_BYTES: usize = 100;

const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// Random text is cut from this many pseudo-random lowercase letters.
const TEXT_POOL: usize = 1 << 16;

impl NexmarkTable {
    /// `bid`, `auction` or `person`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "person" => Some(NexmarkTable::Person),
            "auction" => Some(NexmarkTable::Auction),
            "bid" => Some(NexmarkTable::Bid),
            _ => None,
        }
    }

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            NexmarkTable::Person => "person",
            NexmarkTable::Auction => "auction",
            NexmarkTable::Bid => "bid",
        }
    }

    /// Whether event number `event` is one of this table's.
    pub fn owns(self, event: u64) -> bool {
        let offset = event % PROPORTION_DENOMINATOR;
        match self {
            NexmarkTable::Person => offset < PERSON_PROPORTION,
            NexmarkTable::Auction => {
                (PERSON_PROPORTION..PERSON_PROPORTION + AUCTION_PROPORTION).contains(&offset)
            }
            NexmarkTable::Bid => offset >= PERSON_PROPORTION + AUCTION_PROPORTION,
        }
    }

    /// The index in [`NexmarkTable::schema`] of the column a table declares
    /// as `name`: today's names (`date_time`, `item_name`) or Nexmark's own
    /// (`dateTime`, `itemName`, `initialBid`, `emailAddress`,
    /// `creditCard`), in any case.
    pub fn column_index(self, name: &str) -> Option<usize> {
        let plain = |n: &str| n.replace('_', "").to_ascii_lowercase();
        let wanted = plain(name);
        self.schema()
            .fields()
            .iter()
            .position(|f| plain(f.name()) == wanted)
    }

    /// Every column the generator makes for this table, in order.
    pub fn schema(self) -> SchemaRef {
        let id = |name: &str| Field::new(name, DataType::Int64, false);
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        let time = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            )
        };
        Arc::new(Schema::new(match self {
            NexmarkTable::Person => vec![
                id("id"),
                text("name"),
                text("email_address"),
                text("credit_card"),
                text("city"),
                text("state"),
                time("date_time"),
                text("extra"),
            ],
            NexmarkTable::Auction => vec![
                id("id"),
                text("item_name"),
                text("description"),
                id("initial_bid"),
                id("reserve"),
                time("date_time"),
                time("expires"),
                id("seller"),
                id("category"),
                text("extra"),
            ],
            NexmarkTable::Bid => vec![
                id("auction"),
                id("bidder"),
                id("price"),
                text("channel"),
                text("url"),
                time("date_time"),
                text("extra"),
            ],
        }))
    }
}

/// Makes the events of one table, batch by batch.
pub struct NexmarkGenerator {
    table: NexmarkTable,
    seed: u64,
    base_millis: i64,
    inter_event_micros: u64,
    text: Vec<u8>,
    /// Which of the table's columns to make (the others are left out).
    columns: Vec<usize>,
}

/// SplitMix64: one small, fast, well-mixed generator per event.
struct Random(u64);

impl Random {
    fn for_event(seed: u64, event: u64) -> Self {
        Random(seed ^ event.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The newest person's 0-based id at event `event`.
// The reference's formula, kept general although one person per epoch makes
// the `min` constant.
#[allow(clippy::unnecessary_min_or_max)]
fn last_person(event: u64) -> u64 {
    let epoch = event / PROPORTION_DENOMINATOR;
    let offset = (event % PROPORTION_DENOMINATOR).min(PERSON_PROPORTION - 1);
    epoch * PERSON_PROPORTION + offset
}

/// The newest auction's 0-based id at event `event`.
fn last_auction(event: u64) -> u64 {
    let mut epoch = event / PROPORTION_DENOMINATOR;
    let mut offset = event % PROPORTION_DENOMINATOR;
    if offset < PERSON_PROPORTION {
        // Before this epoch's first auction: the previous epoch's last one.
        epoch = epoch.saturating_sub(1);
        offset = AUCTION_PROPORTION - 1;
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    epoch * AUCTION_PROPORTION + offset
}

/// A recent person (0-based), as bidder or seller.
fn some_person(event: u64, random: &mut Random) -> u64 {
    let people = last_person(event) + 1;
    let active = people.min(NUM_ACTIVE_PEOPLE);
    (people - active) + random.below(active + PERSON_ID_LEAD)
}

/// An auction in flight (0-based).
fn some_auction(event: u64, random: &mut Random) -> u64 {
    let newest = last_auction(event);
    let oldest = newest.saturating_sub(NUM_IN_FLIGHT_AUCTIONS);
    oldest + random.below(newest - oldest + 1 + AUCTION_ID_LEAD)
}

fn price(random: &mut Random) -> i64 {
    (10f64.powf(random.unit() * 6.0) * 100.0).round() as i64
}

impl NexmarkGenerator {
    /// A generator of `table`'s `columns` (indices into its schema).
    pub fn new(
        table: NexmarkTable,
        seed: u64,
        inter_event_micros: u64,
        columns: Vec<usize>,
    ) -> Self {
        let mut random = Random::for_event(seed, u64::MAX);
        let text = (0..TEXT_POOL)
            .map(|_| b'a' + random.below(26) as u8)
            .collect();
        NexmarkGenerator {
            table,
            seed,
            // 2026-01-01T00:00:00Z: fixed, so that runs are repeatable.
            base_millis: 1_767_225_600_000,
            inter_event_micros,
            text,
            columns,
        }
    }

    /// The event time of event `event`, in milliseconds since the epoch.
    pub fn millis(&self, event: u64) -> i64 {
        self.base_millis + (u128::from(event) * u128::from(self.inter_event_micros) / 1000) as i64
    }

    /// `length` pseudo-random letters (cut from the pool at a random place).
    fn text<'a>(&'a self, random: &mut Random, length: usize) -> &'a str {
        let start = random.below((TEXT_POOL - length) as u64) as usize;
        std::str::from_utf8(&self.text[start..start + length]).expect("ASCII letters")
    }

    /// Padding that brings an event of `size` bytes to about `average`.
    fn extra<'a>(&'a self, random: &mut Random, size: usize, average: usize) -> &'a str {
        let wanted = average.saturating_sub(size);
        let delta = wanted / 5;
        let length = wanted - delta + random.below(2 * delta as u64 + 1) as usize;
        self.text(random, length)
    }

    /// The table's columns for events `first..end` (only the table's own
    /// events among them become rows), in schema order, each `None` when
    /// it was not asked for.
    pub fn columns(&self, first: u64, end: u64) -> Vec<Option<ArrayRef>> {
        match self.table {
            NexmarkTable::Bid => self.bids(first, end),
            NexmarkTable::Auction => self.auctions(first, end),
            NexmarkTable::Person => self.people(first, end),
        }
    }

    fn wants(&self, column: usize) -> bool {
        self.columns.contains(&column)
    }

    fn bids(&self, first: u64, end: u64) -> Vec<Option<ArrayRef>> {
        let rows = (end - first) as usize;
        let mut auction = Int64Builder::with_capacity(rows);
        let mut bidder = Int64Builder::with_capacity(rows);
        let mut price_column = Int64Builder::with_capacity(rows);
        let mut channel = StringBuilder::new();
        let mut url = StringBuilder::new();
        let mut date_time = TimestampMillisecondBuilder::with_capacity(rows);
        let mut extra = StringBuilder::new();
        let (want_channel, want_url, want_extra) = (self.wants(3), self.wants(4), self.wants(6));
        let mut scratch = String::new();
        for event in (first..end).filter(|e| NexmarkTable::Bid.owns(*e)) {
            let mut random = Random::for_event(self.seed, event);
            let auction_id = if random.below(HOT_AUCTION_RATIO) > 0 {
                (last_auction(event) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
            } else {
                some_auction(event, &mut random)
            };
            let bidder_id = if random.below(HOT_BIDDER_RATIO) > 0 {
                (last_person(event) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
            } else {
                some_person(event, &mut random)
            };
            auction.append_value(FIRST_AUCTION_ID + auction_id as i64);
            bidder.append_value(FIRST_PERSON_ID + bidder_id as i64);
            price_column.append_value(price(&mut random));
            date_time.append_value(self.millis(event));
            let hot = random.below(HOT_CHANNEL_RATIO) > 0;
            let channel_number = random.below(if hot { 4 } else { CHANNELS });
            if want_channel {
                if hot {
                    channel.append_value(HOT_CHANNELS[channel_number as usize]);
                } else {
                    scratch.clear();
                    let _ = write!(scratch, "channel-{channel_number}");
                    channel.append_value(&scratch);
                }
            }
            if want_url {
                scratch.clear();
                let _ = write!(
                    scratch,
                    "https://www.nexmark.com/{}/item.htm?query=1&channel_id={channel_number}",
                    if hot { "hot" } else { "item" }
                );
                url.append_value(&scratch);
            }
            if want_extra {
                // As the reference: 8 bytes each for the three numbers and the time.
                extra.append_value(self.extra(&mut random, 32, AVERAGE_BID_BYTES));
            }
        }
        vec![
            Some(Arc::new(auction.finish()) as ArrayRef),
            Some(Arc::new(bidder.finish())),
            Some(Arc::new(price_column.finish())),
            want_channel.then(|| Arc::new(channel.finish()) as ArrayRef),
            want_url.then(|| Arc::new(url.finish()) as ArrayRef),
            Some(Arc::new(date_time.finish())),
            want_extra.then(|| Arc::new(extra.finish()) as ArrayRef),
        ]
    }

    fn auctions(&self, first: u64, end: u64) -> Vec<Option<ArrayRef>> {
        let mut id = Int64Builder::new();
        let mut item_name = StringBuilder::new();
        let mut description = StringBuilder::new();
        let mut initial_bid = Int64Builder::new();
        let mut reserve = Int64Builder::new();
        let mut date_time = TimestampMillisecondBuilder::new();
        let mut expires = TimestampMillisecondBuilder::new();
        let mut seller = Int64Builder::new();
        let mut category = Int64Builder::new();
        let mut extra = StringBuilder::new();
        // How long auctions run: about as long as it takes for the in-flight
        // auctions to be replaced.
        let horizon_millis = (NUM_IN_FLIGHT_AUCTIONS * PROPORTION_DENOMINATOR / AUCTION_PROPORTION
            * self.inter_event_micros
            / 1000)
            .max(1);
        for event in (first..end).filter(|e| NexmarkTable::Auction.owns(*e)) {
            let mut random = Random::for_event(self.seed, event);
            id.append_value(FIRST_AUCTION_ID + last_auction(event) as i64);
            let name = self.text(&mut random, 20);
            item_name.append_value(name);
            let text = self.text(&mut random, 100);
            description.append_value(text);
            let bid = price(&mut random);
            initial_bid.append_value(bid);
            reserve.append_value(bid + price(&mut random));
            let at = self.millis(event);
            date_time.append_value(at);
            expires.append_value(at + 1 + random.below(2 * horizon_millis) as i64);
            let seller_id = if random.below(HOT_SELLER_RATIO) > 0 {
                (last_person(event) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
            } else {
                some_person(event, &mut random)
            };
            seller.append_value(FIRST_PERSON_ID + seller_id as i64);
            category.append_value(FIRST_CATEGORY_ID + random.below(NUM_CATEGORIES) as i64);
            if self.wants(9) {
                extra.append_value(self.extra(&mut random, 180, AVERAGE_AUCTION_BYTES));
            }
        }
        vec![
            Some(Arc::new(id.finish()) as ArrayRef),
            Some(Arc::new(item_name.finish())),
            Some(Arc::new(description.finish())),
            Some(Arc::new(initial_bid.finish())),
            Some(Arc::new(reserve.finish())),
            Some(Arc::new(date_time.finish())),
            Some(Arc::new(expires.finish())),
            Some(Arc::new(seller.finish())),
            Some(Arc::new(category.finish())),
            self.wants(9).then(|| Arc::new(extra.finish()) as ArrayRef),
        ]
    }

    fn people(&self, first: u64, end: u64) -> Vec<Option<ArrayRef>> {
        let mut id = Int64Builder::new();
        let mut name = StringBuilder::new();
        let mut email = StringBuilder::new();
        let mut credit_card = StringBuilder::new();
        let mut city = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut date_time = TimestampMillisecondBuilder::new();
        let mut extra = StringBuilder::new();
        let mut scratch = String::new();
        for event in (first..end).filter(|e| NexmarkTable::Person.owns(*e)) {
            let mut random = Random::for_event(self.seed, event);
            id.append_value(FIRST_PERSON_ID + last_person(event) as i64);
            scratch.clear();
            let _ = write!(
                scratch,
                "{} {}",
                FIRST_NAMES[random.below(FIRST_NAMES.len() as u64) as usize],
                LAST_NAMES[random.below(LAST_NAMES.len() as u64) as usize]
            );
            name.append_value(&scratch);
            scratch.clear();
            let user = self.text(&mut random, 7);
            let domain = self.text(&mut random, 5);
            let _ = write!(scratch, "{user}@{domain}.com");
            email.append_value(&scratch);
            scratch.clear();
            for group in 0..4 {
                let separator = if group == 0 { "" } else { " " };
                let _ = write!(scratch, "{separator}{:04}", random.below(10_000));
            }
            credit_card.append_value(&scratch);
            city.append_value(US_CITIES[random.below(US_CITIES.len() as u64) as usize]);
            state.append_value(US_STATES[random.below(US_STATES.len() as u64) as usize]);
            date_time.append_value(self.millis(event));
            if self.wants(7) {
                extra.append_value(self.extra(&mut random, 80, AVERAGE_PERSON_BYTES));
            }
        }
        vec![
            Some(Arc::new(id.finish()) as ArrayRef),
            Some(Arc::new(name.finish())),
            Some(Arc::new(email.finish())),
            Some(Arc::new(credit_card.finish())),
            Some(Arc::new(city.finish())),
            Some(Arc::new(state.finish())),
            Some(Arc::new(date_time.finish())),
            self.wants(7).then(|| Arc::new(extra.finish()) as ArrayRef),
        ]
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;

    use super::*;

    fn ints(array: &Option<ArrayRef>) -> Int64Array {
        array.as_ref().unwrap().as_primitive::<Int64Type>().clone()
    }

    #[test]
    fn proportions_are_one_three_and_forty_six_in_fifty() {
        let count = |table: NexmarkTable| (0..5000).filter(|e| table.owns(*e)).count();
        assert_eq!(count(NexmarkTable::Person), 100);
        assert_eq!(count(NexmarkTable::Auction), 300);
        assert_eq!(count(NexmarkTable::Bid), 4600);
    }

    #[test]
    fn bids_refer_to_auctions_and_people_that_exist_by_then() {
        let all = (0..8).collect();
        let bids = NexmarkGenerator::new(NexmarkTable::Bid, 7, 100, all).columns(0, 100_000);
        let auctions =
            NexmarkGenerator::new(NexmarkTable::Auction, 7, 100, vec![0]).columns(0, 100_000);
        let people =
            NexmarkGenerator::new(NexmarkTable::Person, 7, 100, vec![0]).columns(0, 100_000);
        let max_auction = ints(&auctions[0]).values().iter().copied().max().unwrap();
        let max_person = ints(&people[0]).values().iter().copied().max().unwrap();
        let (auction, bidder, price) = (ints(&bids[0]), ints(&bids[1]), ints(&bids[2]));
        assert_eq!(auction.len(), 92_000);
        // Ids lead the newest by at most the reference's lead (10).
        assert!(auction
            .values()
            .iter()
            .all(|a| (1000..=max_auction + 10).contains(a)));
        assert!(bidder
            .values()
            .iter()
            .all(|b| (1000..=max_person + 10).contains(b)));
        assert!(price
            .values()
            .iter()
            .all(|p| (100..=100_000_000).contains(p)));
        // Half the bids go to the hot auction (an even id), the other half to
        // any: about three in four ids are even.
        let even = auction.values().iter().filter(|a| *a % 2 == 0).count() as f64;
        let share = even / auction.len() as f64;
        assert!((0.73..0.77).contains(&share), "{share}");
    }

    #[test]
    fn the_same_seed_gives_the_same_events_and_columns_are_independent() {
        let make = |columns: Vec<usize>, seed| {
            NexmarkGenerator::new(NexmarkTable::Bid, seed, 100, columns).columns(500, 9000)
        };
        let all = make((0..7).collect(), 1);
        let numbers_only = make(vec![0, 1, 2, 5], 1);
        assert_eq!(all[0], numbers_only[0]);
        assert_eq!(all[2], numbers_only[2]);
        assert_eq!(all[5], numbers_only[5]);
        assert!(numbers_only[6].is_none());
        assert_eq!(make((0..7).collect(), 1)[6], all[6]);
        assert_ne!(make(vec![0, 1, 2, 5], 2)[2], all[2]);
    }
}
