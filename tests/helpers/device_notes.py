"""A small corpus of device manuals and notes, and two groups of questions about it.

Each paragraph is long enough (over 60 words) to be a passage of its own. Each question comes
with a phrase found in exactly one passage, its answer. "paraphrase" questions name things as
a user would ("the fan", "the battery is dead") where the notes use a manual's words
("ventilation motor", "cell pack depleted"), which keyword search misses. "exact" questions
hinge on a token (fault code E21, pump P-350, firmware 2.4.0, GPIO 22, 192.168.10.20, the
Elmstead station) named in one of several passages alike in every other word (8 fault codes,
6 pumps, 6 pins, 5 releases, 5 addresses, 4 stations), which a small encoder blurs. Used by
the retrieval tests and benchmarks/retrieval_recall.py and fusion_choice.py.
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
    "devices/pumps.md": [
        "# Transfer and dosing pumps",
        "The P-200 transfer pump moves rainwater from the cistern to the header tank at up to "
        "18 litres per minute against a head of eight metres. It runs on 230 volts through a "
        "4 amp fuse in the pump cabinet, and its dry-run switch stops it after thirty seconds "
        "without flow. Service the P-200 every two years: replace its shaft seal with kit SK-20 "
        "and check the non-return valve on its outlet for grit.",
        "The P-350 transfer pump feeds the mist lines in the propagation house at up to 35 "
        "litres per minute against a head of twelve metres. It runs on 230 volts through a "
        "6 amp fuse in the pump cabinet, and its dry-run switch stops it after fifteen seconds "
        "without flow. Service the P-350 every year: replace its shaft seal with kit SK-35 and "
        "descale the nozzle filter that sits after its pressure vessel.",
        "The DP-5 dosing pump injects nutrient concentrate into the irrigation water in "
        "proportion to the flow, one part in two hundred by default. Its peristaltic tube wears "
        "and must be replaced every 600 running hours with tube set T-5. If the conductivity "
        "after mixing drifts from the target by more than a tenth, recalibrate the DP-5 with "
        "the measuring cylinder before blaming the concentrate.",
        "The DP-8 dosing pump injects dilute acid to hold the irrigation water at pH 5.8, "
        "correcting the alkaline rainwater from the cistern. Its diaphragm head is resistant to "
        "acid but its suction lance is not: rinse the lance in clean water whenever the drum "
        "is changed. A DP-8 that runs for more than ten minutes without moving the pH reading "
        "has an empty drum or an air lock in its suction line.",
        "The P-500 drainage pump empties the sump under the packing shed into the ditch at up "
        "to 50 litres per minute, switched by its own float. It runs on 400 volts through a "
        "motor breaker set to 3 amps in the shed distribution board. Service the P-500 every "
        "six months: lift it out on its chain, hose the silt off the intake cage and check "
        "that the float moves freely in its guide.",
        "The P-120 transfer pump tops up the drinking troughs of the livestock from the "
        "header tank at up to 12 litres per minute. It runs on 24 volts from the battery "
        "cabinet through a 10 amp blade fuse, so that the troughs still fill during a power "
        "cut. Service the P-120 every three years: replace its brushes with kit BR-12 and "
        "clean the trough valve's filter at the same time.",
    ],
    "devices/fault_codes.md": [
        "# Controller fault codes",
        "Fault E12 means the irrigation flow sensor sent no pulses while a valve was open. "
        "Check that the sensor cable is plugged into its terminal and that the little turbine "
        "turns freely, then clear the fault by opening and closing the valve from the manual "
        "menu. If E12 comes back within a day, the Hall element of the sensor has failed and "
        "the whole sensor must be replaced, as it cannot be repaired.",
        "Fault E21 means the irrigation flow sensor counted pulses while every valve was "
        "closed, which points to a leak or a valve that does not seat. Walk the lines looking "
        "for wet patches, then close the main stop valve: if the pulses stop there, a bed valve "
        "is passing water and its diaphragm must be cleaned or replaced before E21 is cleared "
        "from the manual menu of the controller.",
        "Fault E42 is raised when the battery temperature sensor reads below minus 30 or above "
        "plus 70 degrees, which nearly always means its lead is broken rather than the pack "
        "being that hot or that cold. Charging is suspended while E42 is active. Push the "
        "sensor plug back into the battery management board, check the lead for chafing where "
        "it enters the cabinet and acknowledge the fault on the display.",
        "Fault E24 is raised when the battery voltage measured by the controller differs by "
        "more than half a volt from the value reported by the battery management system. "
        "Charging carries on, but the state of charge shown may be wrong. Tighten the sense "
        "lead on the positive busbar first; if E24 stays, recalibrate the voltage input from "
        "the service menu against a multimeter reading taken at the terminals.",
        "Fault E13 means the pressure after the irrigation pump stayed under one bar for a "
        "whole minute while the pump was running. The controller stops the pump and closes "
        "every valve. Look for a burst pipe or a fitting blown off a line before anything "
        "else, then check the mesh strainer; once the cause is fixed, clear E13 from the "
        "manual menu and watch the first watering cycle.",
        "Fault E31 means the ventilation motor drew more than its rated current for ten "
        "seconds, so the controller switched it off to save the winding. A seized bearing or "
        "a jammed blade is the usual cause. Turn the blades by hand with the isolator off: if "
        "they turn stiffly, the bearing must be replaced before E31 is acknowledged and the "
        "motor is allowed to start again.",
        "Fault E34 means a roof louvre actuator did not reach the position it was sent to "
        "within one minute. Ice, a bird's nest or a broken hinge usually blocks it. The "
        "controller tries twice more and then leaves the louvre where it stopped. Inspect the "
        "louvre from the walkway, free it, and clear E34 from the ventilation page of the "
        "controller's display.",
        "Fault E43 is raised when the heating pad under the battery draws no current although "
        "the controller has switched it on, in cold weather. Charging is held back until the "
        "cells are warm enough, so E43 left alone through a frosty week can drain the pack. "
        "Check the pad's fuse in the battery cabinet first and then the pad's connector, "
        "which corrodes in damp air.",
    ],
    "devices/firmware.md": [
        "# Firmware release notes",
        "Firmware 2.3.1 fixed the clock of the controller drifting by several minutes a week "
        "when the network time server could not be reached, and it added a daily backup of "
        "the schedules to the memory card. Controllers shipped before spring must be on at "
        "least this release before they can be updated any further, because later images are "
        "signed with a new key.",
        "Firmware 2.4.0 added support for a second irrigation zone controller on the same bus "
        "and a frost protection mode that opens the drain valves automatically below one "
        "degree. It also changed the default logging interval from five minutes to one minute, "
        "which fills the memory card about five times faster, so check the free space after "
        "installing this release on a controller with an older card.",
        "Firmware 3.0.2 replaced the old web interface with a new dashboard, moved the service "
        "menu behind a password and dropped support for the first generation of radio nodes, "
        "which must be swapped for current ones before updating. It also fixed a bug where the "
        "grow lights stayed off for a whole day after the clocks changed to summer time in "
        "March.",
        "Firmware 2.2.0 introduced the event log export to a USB stick and the numeric event "
        "codes listed in the service manual. It also made the watchdog restart a hung process "
        "instead of rebooting the whole controller, which shortened the interruption of "
        "schedules to a few seconds. Controllers older than this release cannot export their "
        "logs at all, and must be updated before a fault can be reported to support.",
        "Firmware 3.1.0 added the battery storage mode to the maintenance menu, a weekly "
        "report of the pack's internal resistance, and translations of the display into "
        "German and Dutch. It raised the minimum signal needed before a radio node is accepted "
        "on the network, so nodes at the edge of the range may need their antennas moved "
        "after the update if they drop off the network.",
    ],
    "devices/wiring.md": [
        "# Expansion header wiring",
        "GPIO 17 (header pin 11) drives the relay coil of the mist valve through a transistor "
        "driver on the expansion board, because the pin itself can only source a few "
        "milliamps. The relay is energised when the pin is high. A valve that clicks but "
        "sprays nothing has a blocked nozzle, while a silent relay with the pin high means a "
        "failed driver transistor on the board.",
        "GPIO 27 (header pin 13) reads the float switch of the header tank, with the internal "
        "pull-up resistor enabled, so a full tank pulls the pin low. The input is debounced in "
        "software over half a second, because ripples on the water surface make the float "
        "chatter. If the tank overflows while the reading says empty, look for a broken wire "
        "between the switch and the terminal strip.",
        "GPIO 22 (header pin 15) is the one-wire bus for the soil temperature probes, a chain "
        "of up to eight sensors on a single twisted pair with a 4.7 kilohm pull-up resistor to "
        "3.3 volts. Each probe has its own address on the bus. When the last probes in the "
        "chain drop out in wet weather, water has entered a junction and the cable gland "
        "there must be resealed.",
        "GPIO 6 (header pin 31) counts the pulses of the rain gauge reed switch as interrupts "
        "on the falling edge. A capacitor of 100 nanofarads across the switch suppresses "
        "contact bounce, which would otherwise record two tips for every real one. If the "
        "rainfall totals double overnight, check that the capacitor is still soldered in "
        "place on the terminal board beside the reed switch connector.",
        "GPIO 23 (header pin 16) drives the alarm buzzer in the cabinet door through a small "
        "transistor, sounding in bursts when the controller raises any fault that needs a "
        "visit. The buzzer can be silenced for an hour from the display. If it stays silent "
        "during the monthly test from the service menu, measure the voltage across it before "
        "replacing the buzzer itself.",
        "GPIO 5 (header pin 29) reads the door contact of the electrical cabinet, a magnetic "
        "switch that opens when the door does. Every opening is written to the event log with "
        "the time, which shows when someone last worked inside. A contact that reports the "
        "door open while it is shut has usually slipped on its bracket and only needs to be "
        "moved back into line.",
    ],
    "devices/addresses.md": [
        "# Network addresses and ports",
        "The LoRaWAN gateway has the fixed address 192.168.10.2 on the farm network. Its web "
        "console is served on port 8080 and asks for the administrator password kept in the "
        "safe. Packet forwarding to the network server uses outbound UDP port 1700, which must "
        "stay open on the office router, otherwise the gateway buffers packets and reports "
        "itself as disconnected on the dashboard.",
        "The main controller answers at 192.168.10.20 and speaks Modbus TCP on port 502, which "
        "the heating contractor's boiler panel uses to read the greenhouse temperatures. Port "
        "502 carries no password at all, so the office router must never forward it to the "
        "internet. The controller also offers a read-only status page over plain HTTP on port "
        "80 of the same address.",
        "The message broker runs on the office server at 192.168.10.5. It listens on port 1883 "
        "for plain connections from the controllers inside the farm network, and on port 8883 "
        "with TLS for the dashboards and phones that connect from outside. A client certificate "
        "is required on port 8883; request a new one from the site manager when a phone is "
        "replaced or lost.",
        "The weather display in the office has the address 192.168.10.30 and fetches the "
        "latest readings from the controller every minute over HTTP. It keeps no data of its "
        "own, so replacing it loses nothing. When it shows dashes instead of numbers, it has "
        "lost its connection to the farm network or the controller's status page on the same "
        "network is not answering.",
        "The camera that watches the greenhouse doors has the address 192.168.10.40 and "
        "streams video over RTSP on port 554 to the recorder in the office, which keeps two "
        "weeks of footage. Its infrared lamps switch on at dusk. The camera is powered over "
        "the network cable, so a blank picture usually means the switch port in the office "
        "has lost power or its cable.",
    ],
    "site/stations.md": [
        "# Field stations",
        "The Hollybrook station stands in the corner of the lower paddock next to the stream. "
        "The key to its cabinet is in the lockbox on the gatepost, and the landowner, Mrs "
        "Okonkwo, must be phoned the day before any visit because her cattle graze that "
        "field. Park in the farmyard, never on the track, which floods in winter and has "
        "trapped vehicles before.",
        "The Elmstead station sits on the roof of the village hall, reached by the fixed ladder "
        "at the back of the building. The hall caretaker, Mr Vasquez, keeps the key to the "
        "roof hatch and must be told before anyone goes up. Work on that roof needs two people "
        "and a harness clipped to the anchor point beside the hatch at all times.",
        "The Carrow Fen station is on a raised platform in the middle of the reed bed, reached "
        "along a boardwalk of about four hundred metres. The key to its cabinet hangs inside "
        "the bird hide at the start of the boardwalk. The nature reserve's warden, Ms "
        "Lindqvist, asks that no visit take place between April and July, while bitterns "
        "are nesting in the reeds.",
        "The Ashby Moor station stands beside the forestry track above the old quarry, three "
        "kilometres from the nearest road. The barrier on the track is opened with the code "
        "that the forestry ranger, Mr Adeyemi, sends by text message on the morning of the "
        "visit. There is no phone signal up there, so tell the office when you set off and "
        "again when you are back.",
    ],
}

# (question, a phrase of its answer passage): the phrase is in exactly one passage.
# Asked in other words than the notes'.
PARAPHRASE_QUESTIONS: list[tuple[str, str]] = [
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

# Whose answer hinges on an exact token (a part number, fault code, version, pin, address,
# port or name) shared by no other passage, among passages alike in every other word.
EXACT_QUESTIONS: list[tuple[str, str]] = [
    ("How many litres per minute does the P-350 pump?", "The P-350 transfer pump feeds"),
    ("Which fuse does the P-200 need?", "The P-200 transfer pump moves"),
    ("Which seal kit fits the P-350?", "The P-350 transfer pump feeds"),
    ("How often should the P-200 be serviced?", "The P-200 transfer pump moves"),
    ("What is kit SK-20 for?", "The P-200 transfer pump moves"),
    ("How often does the DP-5 need a new tube?", "The DP-5 dosing pump injects"),
    ("The DP-8 runs but the pH does not change", "The DP-8 dosing pump injects"),
    ("What does fault E12 mean?", "Fault E12 means"),
    ("How do I clear error E21?", "Fault E21 means"),
    ("The display shows E42, what now?", "Fault E42 is raised"),
    ("Why does the controller show E24?", "Fault E24 is raised"),
    ("Is charging stopped while E24 is shown?", "Fault E24 is raised"),
    ("What changed in firmware 2.4.0?", "Firmware 2.4.0 added"),
    ("What did firmware 3.0.2 fix?", "Firmware 3.0.2 replaced"),
    ("What was fixed in 2.3.1?", "Firmware 2.3.1 fixed"),
    ("What is connected to GPIO 22?", "GPIO 22 (header pin 15)"),
    ("What does GPIO 27 read?", "GPIO 27 (header pin 13)"),
    ("What is on header pin 11?", "GPIO 17 (header pin 11)"),
    ("Why does GPIO 6 count twice as many pulses?", "GPIO 6 (header pin 31)"),
    ("Which device is at 192.168.10.20?", "answers at 192.168.10.20"),
    ("What is 192.168.10.2?", "has the fixed address 192.168.10.2"),
    ("What listens on port 8883?", "The message broker runs"),
    ("What uses port 502?", "answers at 192.168.10.20"),
    ("Must port 1700 be open?", "has the fixed address 192.168.10.2"),
    ("Who do I phone before visiting Hollybrook?", "The Hollybrook station stands"),
    ("Where is the key for the Carrow Fen station?", "The Carrow Fen station is on"),
    ("Who has the key to the Elmstead roof?", "The Elmstead station sits"),
    ("When can I not go to Carrow Fen?", "The Carrow Fen station is on"),
    ("How much current does the P-500 draw before its breaker trips?", "The P-500 drainage"),
    ("Does the P-120 keep working in a power cut?", "The P-120 transfer pump tops up"),
    ("What do I do about fault E13?", "Fault E13 means"),
    ("The controller reports E31", "Fault E31 means"),
    ("Why does E43 appear in winter?", "Fault E43 is raised"),
    ("What came with firmware 2.2.0?", "Firmware 2.2.0 introduced"),
    ("What should I check after installing 3.1.0?", "Firmware 3.1.0 added"),
    ("What does GPIO 23 do?", "GPIO 23 (header pin 16)"),
    ("What does 192.168.10.40 stream?", "has the address 192.168.10.40"),
    ("How do I get through the barrier at Ashby Moor?", "The Ashby Moor station stands"),
]

QUESTION_GROUPS: dict[str, list[tuple[str, str]]] = {
    "paraphrase": PARAPHRASE_QUESTIONS,
    "exact": EXACT_QUESTIONS,
}
QUESTIONS = PARAPHRASE_QUESTIONS + EXACT_QUESTIONS


def write_notes(folder: Path) -> Path:
    """The corpus as files under ``folder``; returns ``folder``."""
    for name, paragraphs in NOTES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return folder


def recall(
    store: DocumentStore,
    mode: SearchMode,
    k: int = 5,
    questions: list[tuple[str, str]] = QUESTIONS,
) -> tuple[float, list[str]]:
    """The share of ``questions`` whose answer passage is among the ``k`` found by ``mode``,
    and the questions it missed."""
    missed = [
        question
        for question, answer in questions
        if not any(answer in p.text for p in store.search(question, k, mode=mode))
    ]
    return 1 - len(missed) / len(questions), missed
