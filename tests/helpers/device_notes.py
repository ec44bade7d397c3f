"""A small corpus of device manuals and notes, and questions asked in other words than theirs.

Each paragraph is long enough (over 60 words) to be a passage of its own. Each question comes
with a phrase found in exactly one passage, its answer; questions mostly name things as a user
would ("the fan", "the battery is dead") where the notes use a manual's words ("ventilation
motor", "cell pack depleted"), which keyword search misses. Used by the retrieval tests and
benchmarks/retrieval_recall.py.
"""

from __future__ import annotations

from pathlib import Path

from edge_reason.reasoning.retrieval import DocumentStore, SearchMode

NOTES: dict[str, list[str]] = {
    "greenhouse/ventilation.md": [
        "# Greenhouse ventilation",
        "The ventilation motor spins up automatically once the interior air exceeds 27 degrees "
        "Celsius and stays on until the temperature has fallen two degrees below that point. "
        "Between ten in the morning and four in the afternoon it also runs on a timer, whatever "
        "the reading, so that humid air is exchanged during the warmest hours of the day and "
        "condensation does not collect on the glazing.",
        "If the ventilation motor squeals or rattles, the drive belt has probably stretched. "
        "Switch off the isolator, remove the guard with a 10 mm spanner and press the belt "
        "midway between the pulleys: it should deflect by about one centimetre. Tighten the "
        "tensioner bolt until it does, refit the guard and restore power. A belt that is "
        "cracked or glazed must be replaced rather than tightened again.",
        "The louvre actuators on the roof are driven by a 24 volt linear motor each. They open "
        "in steps of ten percent and report their position to the controller. When a gust "
        "sensor on the mast measures wind above 60 kilometres per hour the louvres close "
        "completely and stay shut for fifteen minutes, because a storm can tear an open louvre "
        "off its hinges and break the glass panes below it.",
        "Dust builds up on the intake grille of the ventilation motor over the summer months. "
        "Clean the grille every four weeks with a soft brush and wipe the blades with a damp "
        "cloth after isolating the supply. A clogged grille makes the motor draw more current, "
        "run hotter and eventually trip its thermal cut-out, which then needs a manual reset "
        "on the side of the housing before it will start again.",
    ],
    "greenhouse/irrigation.md": [
        "# Irrigation pump",
        "The irrigation pump is a self-priming centrifugal unit rated at 750 watts. To restart "
        "it after a fault, hold the red button on its controller for five seconds until the "
        "status lamp blinks green twice. The controller then runs a short dry test of three "
        "seconds before it starts filling the header tank, and it will refuse to start if the "
        "float switch reports the tank as already full.",
        "Watering is triggered by the soil moisture probes buried at root depth in each bed. "
        "When the average reading falls under 30 percent volumetric water content the valve "
        "for that bed opens for twelve minutes, then the probes are read again after a settling "
        "delay of half an hour. Beds planted with seedlings use a higher threshold of 40 percent "
        "until they are marked as established in the schedule.",
        "The pump must never run without water in its casing. If the suction hose draws air, "
        "the impeller overheats within a minute and the mechanical seal is destroyed. The "
        "controller protects against this with a flow sensor: when less than two litres per "
        "minute pass during the first twenty seconds it stops the motor, lights the amber lamp "
        "and writes a dry-running fault into its event log.",
        "The mesh strainer in front of the pump catches grit and algae from the rainwater "
        "cistern. Unscrew the clear bowl by hand, rinse the stainless mesh under a tap and check "
        "the rubber gasket for cracks before putting the bowl back. Do this every three months, "
        "or sooner when the pressure gauge after the strainer shows less than 1.5 bar while the "
        "pump is delivering water.",
        "In winter the irrigation lines must be drained so that freezing water does not split "
        "the pipes. Close the cistern valve, open the drain cock at the lowest point of each "
        "line and blow the remaining water out with the compressor set to no more than two bar. "
        "Leave the drain cocks open until spring and store the pump head indoors if night "
        "temperatures are expected to drop below minus five degrees.",
    ],
    "devices/battery.md": [
        "# Battery pack",
        "The field station runs from a lithium iron phosphate cell pack of 24 volts and 100 "
        "ampere hours. A full charge from the solar controller takes about six hours of good "
        "sunshine. The pack should be kept between 20 and 90 percent state of charge for a long "
        "service life; the controller stops charging at 90 percent unless a balancing cycle "
        "has been requested from the maintenance menu of the station.",
        "When the cell pack is depleted below 10 percent the battery management system "
        "disconnects every load except the data logger to protect the cells from damage. The "
        "station then only records measurements and sends nothing over the radio. Loads are "
        "reconnected automatically once the pack has been recharged above 25 percent, which "
        "after a long overcast week may take more than a full day of sun.",
        "Lithium iron phosphate cells must not be charged below zero degrees Celsius: lithium "
        "plating would ruin them permanently. A heating pad under the pack keeps it above five "
        "degrees in cold weather and draws about 30 watts while it is on. In a hard frost the "
        "charger waits until the pad has warmed the cells before it accepts any current from "
        "the solar panels on the roof of the cabinet.",
        "Before transporting the cell pack, switch it to storage mode from the maintenance menu. "
        "The battery management system then discharges or charges it to 50 percent and opens "
        "the main contactor, so that no terminal carries current while the pack is moved. Cover "
        "the terminals with the red caps, keep the pack upright and never ship it by air "
        "without the declaration required for dangerous goods.",
        "The state of health of the pack is estimated from its internal resistance, measured "
        "every night during a short discharge pulse. A new pack reads about 12 milliohms. When "
        "the value climbs above 25 milliohms the pack has lost roughly a fifth of its capacity "
        "and the controller raises a replacement warning on the display, which can be "
        "acknowledged but will come back every week until the pack is replaced.",
    ],
    "devices/sensors.md": [
        "# Sensors",
        "The air temperature and humidity probe sits in a ventilated radiation shield two metres "
        "above the ground. It is accurate to 0.2 degrees and two percent relative humidity. "
        "Readings drift when the white louvres of the shield get dirty or when spiders build "
        "webs inside it, so clean it with water and a soft brush at every visit and never paint "
        "the shield a darker colour.",
        "Calibrate the soil moisture probes once a year against a sample dried in an oven. Take "
        "a core next to each probe, weigh it, dry it at 105 degrees for a day and weigh it "
        "again; the difference gives the true water content. Enter the pair of values in the "
        "calibration table of the controller, which fits a straight line through all the pairs "
        "entered so far for that probe.",
        "The rain gauge is a tipping bucket: each tip is 0.2 millimetres of precipitation and "
        "closes a reed switch once. Leaves and insects can block the funnel, in which case the "
        "gauge reports a dry day while it is pouring. Check that the bucket moves freely and "
        "that the funnel is clear at every visit, and level the gauge again with its spirit "
        "bubble if the post has moved.",
        "The carbon dioxide sensor in the greenhouse uses non-dispersive infrared absorption and "
        "needs fresh outdoor air once a week to correct its baseline. Its automatic baseline "
        "correction assumes that the lowest value of the week is 420 parts per million. When "
        "the greenhouse stays closed for longer than that, switch the correction off, or the "
        "readings will creep downward week after week.",
        "The anemometer and wind vane are mounted on the mast at ten metres. The cups turn on "
        "a bearing that needs no lubrication, but the bearing wears out after about five years "
        "and then the cups start late in light wind. If the gusts reported on a calm day look "
        "too low compared with the neighbouring station, order a bearing kit and replace it "
        "on a day with no wind at all.",
    ],
    "devices/network.md": [
        "# Network",
        "The station uploads its measurements over LoRaWAN every fifteen minutes. The gateway on "
        "the barn roof forwards the packets to the network server over the farm's fibre link. "
        "If the gateway loses its backhaul it buffers up to three days of packets in its flash "
        "memory and forwards them in order once the link returns, so that no measurement is "
        "lost during a short outage of the connection.",
        "To join a new node to the network, press the pairing key on its circuit board with a "
        "paper clip and hold it until the blue light flashes rapidly. The node then sends join "
        "requests with its device identifier and application key, which must already be "
        "registered on the network server. A node that is not registered keeps trying every "
        "minute for an hour and then gives up to save energy.",
        "The Wi-Fi access point in the office uses WPA3 with a passphrase printed on the label "
        "under the device. Guests should use the separate guest network, which is isolated from "
        "the controllers and limited to ten megabits per second. The passphrase of the main "
        "network must be changed whenever a member of staff leaves, and the new one written in "
        "the sealed envelope kept in the safe.",
        "Radio range drops sharply when the antenna of a node is mounted lower than one metre "
        "or behind a metal cabinet. Signal strength better than minus 110 dBm is needed for "
        "reliable links at the slowest data rate. Use the site survey mode of the handheld "
        "tester to find a spot with a clear line of sight to the gateway before fixing the "
        "node permanently to its post.",
        "The controllers keep their clocks right with the network time protocol, querying the "
        "gateway every hour. If a controller shows a timestamp that is hours off after a power "
        "cut, its backup coin cell is flat: replace the CR2032 in the holder next to the "
        "processor, then power the controller up again and wait for the next synchronisation "
        "before trusting the schedule it runs.",
    ],
    "devices/controller.md": [
        "# Controller",
        "The main controller runs the schedules for watering, ventilation and lighting. Its "
        "firmware is updated from a USB stick: copy the signed image to the root of the stick, "
        "insert it into the front port and hold the update key for three seconds. The "
        "controller verifies the signature, installs the image into the inactive slot and "
        "reboots into it, keeping the previous version as a fallback.",
        "If the controller stops responding, first wait two minutes: the watchdog restarts a "
        "hung process on its own. If the screen stays frozen, pull the green terminal block "
        "that carries its 24 volt supply, count to ten and push it back in. The controller "
        "boots in about forty seconds and resumes every schedule from the point it was "
        "interrupted at, including half finished watering cycles.",
        "Every event the controller handles is written to its log, which keeps the last "
        "thirty days on the internal memory card. Export the log from the service menu to a "
        "USB stick as a comma separated file before sending it to support. Entries carry the "
        "date, the time in universal time, the subsystem and a numeric code explained in the "
        "appendix of the service manual.",
        "The grow lights are switched by the controller through solid state relays, in two "
        "banks of 600 watts each. They come on when the light sensor measures under 15 "
        "kilolux during the day length set for the crop, and never in the six dark hours "
        "programmed for the night. A bank that flickers usually has a loose neutral wire in "
        "the junction box above the door.",
    ],
    "site/safety.md": [
        "# Safety",
        "Before opening any electrical cabinet, switch off its isolator, lock it with your own "
        "padlock and hang a tag with your name and the date on it. Check with a voltage tester "
        "that the terminals are dead, testing the tester itself on a live socket before and "
        "after. Only the person who fitted a lock may remove it, even if the work has clearly "
        "finished and they have gone home.",
        "The first aid kit hangs on the wall next to the office door, and the eye wash station "
        "is by the fertiliser store. Anyone handling concentrated nutrient solutions must wear "
        "nitrile gloves and goggles. A splash in the eyes is rinsed for at least fifteen "
        "minutes with the eye wash before anything else is done, then the emergency number is "
        "called from the office phone.",
        "The fire extinguishers are carbon dioxide units for electrical fires, one in the "
        "office and one next to the battery cabinet, and a foam unit in the potting shed. They "
        "are inspected every year in March by the supplier. A discharged or damaged "
        "extinguisher is reported to the site manager the same day, and the seal on each one "
        "is checked during the monthly walk round of the site.",
    ],
}

# (question, a phrase of its answer passage): the phrase is in exactly one passage
QUESTIONS: list[tuple[str, str]] = [
    ("When does the fan come on?", "spins up automatically once the interior air exceeds"),
    ("The fan is making a screeching noise, what should I do?", "If the ventilation motor squeals"),
    ("What happens to the roof windows in a storm?", "gust sensor on the mast"),
    ("How often should I clean the fan?", "Dust builds up on the intake grille"),
    ("How do I reboot the water pump after it stopped?", "hold the red button on its controller"),
    ("When do the plants get watered?", "triggered by the soil moisture probes"),
    ("What protects the pump from running dry?", "must never run without water in its casing"),
    ("How do I clean the filter of the water pump?", "The mesh strainer in front of the pump"),
    ("How do I protect the water pipes from frost damage?", "irrigation lines must be drained"),
    ("How long does it take to fully charge the battery?", "A full charge from the solar"),
    ("What happens when the battery is dead?", "the cell pack is depleted below 10 percent"),
    ("Can the battery be charged when it is freezing outside?", "must not be charged below zero"),
    ("How do I prepare the battery for shipping?", "Before transporting the cell pack"),
    ("How can I tell that the battery is worn out?", "The state of health of the pack"),
    ("Why is the thermometer showing wrong values?", "Readings drift when the white louvres"),
    ("How do I check that the soil sensors are accurate?", "Calibrate the soil moisture probes"),
    ("The rain meter shows no rain although it is raining", "The rain gauge is a tipping bucket"),
    ("Why does the CO2 reading keep going down?", "automatic baseline correction"),
    ("The wind speed readings seem too low", "The anemometer and wind vane"),
    ("What happens to the data when the internet connection is down?", "loses its backhaul"),
    ("How do I add a new sensor node to the wireless network?", "press the pairing key"),
    ("What is the Wi-Fi password?", "passphrase printed on the label"),
    ("The node has a weak signal, where should I put it?", "Radio range drops sharply"),
    ("The clock of the controller is wrong after a blackout", "backup coin cell is flat"),
    ("How do I install a software update?", "firmware is updated from a USB stick"),
    ("The controller froze, how do I restart it?", "the watchdog restarts a hung process"),
    ("Where can I find the history of what the system did?", "written to its log"),
    ("When do the lamps turn on?", "The grow lights are switched"),
    ("What must I do before working on the wiring?", "lock it with your own padlock"),
    ("What do I do if chemicals get in someone's eyes?", "A splash in the eyes is rinsed"),
    ("Where are the fire extinguishers?", "carbon dioxide units for electrical fires"),
    ("At what temperature does the greenhouse start cooling?", "interior air exceeds 27"),
    ("How tight should the fan belt be?", "it should deflect by about one centimetre"),
    ("Why does the fan stop on its own after overheating?", "trip its thermal cut-out"),
    ("Do young plants need more water?", "Beds planted with seedlings"),
    ("What does the amber light on the pump mean?", "writes a dry-running fault"),
    ("How much power does the battery heater use?", "heating pad under the pack"),
    ("Which loads stay on when the battery is almost empty?", "except the data logger"),
    ("How far off can the thermometer be?", "accurate to 0.2 degrees"),
    ("How much rain is one click of the gauge?", "each tip is 0.2 millimetres"),
    ("How often does the station send its data?", "uploads its measurements over LoRaWAN"),
    ("Can visitors use the internet?", "Guests should use the separate guest network"),
    ("How do I get the event history to the support team?", "Export the log from the service"),
    ("The lights are flickering", "A bank that flickers"),
    ("Who may take off a lockout padlock?", "Only the person who fitted a lock"),
]


def write_notes(folder: Path) -> Path:
    """The corpus as files under ``folder``; returns ``folder``."""
    for name, paragraphs in NOTES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def recall(store: DocumentStore, mode: SearchMode, k: int = 5) -> tuple[float, list[str]]:
    """The share of QUESTIONS whose answer passage is among the ``k`` found by ``mode``, and
    the questions it missed."""
    missed = [
        question
        for question, answer in QUESTIONS
        if not any(answer in p.text for p in store.search(question, k, mode=mode))
    ]
    return 1 - len(missed) / len(QUESTIONS), missed
